#include "ob1q/pack/packed_linear.hpp"

#include <ATen/ATen.h>

#include "ob1q/common/error.hpp"
#include "ob1q/kernels/bits.hpp"

namespace ob1q::pack {

using at::indexing::Slice;

int64_t PackedLinear::stored_bytes() const {
  int64_t n = 0;
  for (const auto& [k, t] : tensors) n += t.numel() * t.element_size();
  return n;
}

at::Tensor pack_bits(const at::Tensor& bits) {
  const int64_t n = bits.size(-1), nb = (n + 7) / 8;
  at::Tensor b = bits.to(at::kInt);
  if (nb * 8 != n) {
    std::vector<int64_t> pad_shape = b.sizes().vec();
    pad_shape.back() = nb * 8 - n;
    b = at::cat({b, at::zeros(pad_shape, b.options())}, -1);
  }
  std::vector<int64_t> shape = b.sizes().vec();
  shape.back() = nb;
  shape.push_back(8);
  const at::Tensor weights = at::tensor({1, 2, 4, 8, 16, 32, 64, 128}, b.options());
  return (b.view(shape) * weights).sum(-1).to(at::kByte);
}

at::Tensor unpack_bits(const at::Tensor& bytes, int64_t n) { return kernels::unpack_bits(bytes, n); }

namespace {

at::Tensor to_cpu(const at::Tensor& t, at::ScalarType dtype) { return t.to(at::kCPU, dtype).contiguous(); }

// Entries whose sign is 0 (exact zeros the binarizers keep; one bit cannot say "0"), as int32
// [z, 3] rows (plane, row, col). Empty when there are none (the common case).
at::Tensor zero_list(const std::vector<at::Tensor>& planes_zero) {
  std::vector<at::Tensor> rows;
  for (size_t p = 0; p < planes_zero.size(); ++p) {
    at::Tensor idx = planes_zero[p].nonzero();  // [z, 2]
    if (idx.size(0) == 0) continue;
    rows.push_back(at::cat({at::full({idx.size(0), 1}, int64_t(p), idx.options()), idx}, 1));
  }
  return rows.empty() ? at::Tensor() : at::cat(rows, 0).to(at::kInt);
}

// Applies a stored zero list to int8 sign planes [P, m, d] (bounds checked).
void apply_zero_list(at::Tensor& sign, const at::Tensor& zl, const std::string& where) {
  if (!zl.defined()) return;
  check_zero_list(zl, sign.size(0), sign.size(1), sign.size(2), where);
  const at::Tensor z = zl.to(sign.device(), at::kLong);
  if (z.size(0) == 0) return;
  sign.index_put_({z.select(1, 0), z.select(1, 1), z.select(1, 2)}, at::zeros({}, sign.options()));
}

at::Tensor signs_from_bits(const at::Tensor& bits) { return bits.to(at::kChar) * 2 - 1; }

}  // namespace

void check_zero_list(const at::Tensor& zl, int64_t planes, int64_t rows, int64_t cols, const std::string& where) {
  if (zl.dim() != 2 || zl.size(1) != 3) fail(where, "sign_zero must be [z, 3]");
  if (zl.size(0) == 0) return;
  const at::Tensor z = zl.to(at::kCPU, at::kLong);
  const at::Tensor lo = std::get<0>(z.min(0)), hi = std::get<0>(z.max(0));
  const at::Tensor lim = at::tensor({planes, rows, cols}, hi.options());
  if ((lo < 0).any().item<bool>() || (hi >= lim).any().item<bool>()) fail(where, "sign_zero holds an index out of range");
}

at::Tensor fetch_checked(const TensorGetter& get, const std::string& where, const std::string& k,
                         const std::vector<int64_t>& shape, bool floating, c10::Device device) {
  at::Tensor t = get(k);
  if (t.sizes().vec() != shape)
    fail(where + "." + k, "shape " + c10::str(t.sizes()) + " differs from the expected " + c10::str(at::IntArrayRef(shape)));
  if (floating ? !at::isFloatingType(t.scalar_type()) : t.scalar_type() != at::kByte)
    fail(where + "." + k, std::string("dtype ") + c10::toString(t.scalar_type()) + " is not the expected " +
                              (floating ? "floating point" : "U8"));
  return t.to(device);
}

// ---- binary-blocks -----------------------------------------------------------------------------

PackedLinear pack_binary(const CodeLayout& layout, int64_t blocksize, const std::vector<BlockCode>& blocks,
                         at::ScalarType storage) {
  TORCH_CHECK(!blocks.empty(), "pack_binary: no blocks");
  std::vector<at::Tensor> sal, hi, sign, row, col, mean;
  for (const BlockCode& b : blocks) {
    sal.push_back(b.salient);
    hi.push_back(b.hi);
    sign.push_back(b.sign);
    row.push_back(b.row);
    if (layout.formula == Formula::Rc) {
      at::Tensor c = b.col;
      if (c.size(1) < blocksize) c = at::cat({c, at::zeros({c.size(0), blocksize - c.size(1)}, c.options())}, 1);
      col.push_back(c);
    }
    if (layout.mean_slots() > 0) mean.push_back(b.mean);
  }
  const at::Tensor salient = at::cat(sal, 0), H = at::cat(hi, 1), S = at::cat(sign, 2);
  PackedLinear p;
  p.layout = "binary-blocks";
  p.rows = H.size(0);
  p.cols = H.size(1);
  const at::Tensor sal_idx = salient.nonzero().view({-1});
  const at::Tensor s1 = S[1].index_select(1, sal_idx);
  p.tensors["sign"] = to_cpu(pack_bits(S[0] > 0), at::kByte);
  p.tensors["sign2"] = to_cpu(pack_bits(s1 > 0), at::kByte);
  p.tensors["salient"] = to_cpu(pack_bits(salient), at::kByte);
  p.tensors["hi"] = to_cpu(pack_bits(H), at::kByte);
  p.tensors["row_scale"] = to_cpu(at::stack(row, 0), storage);
  if (!col.empty()) p.tensors["col_scale"] = to_cpu(at::stack(col, 0), storage);
  if (!mean.empty()) p.tensors["mean"] = to_cpu(at::stack(mean, 0), storage);
  // Zero signs: plane 0 anywhere, plane 1 on salient columns (elsewhere it is unused). Whole
  // zero columns (dead inputs the driver zeroed: common in OPT's fc2) go into a column bitmap,
  // the rest into the sparse list.
  at::Tensor z0 = S[0] == 0;
  at::Tensor z1 = at::zeros_like(S[1], at::kBool);
  z1.index_put_({Slice(), sal_idx}, s1 == 0);
  const at::Tensor zero_col = z0.all(0) & (z1.all(0) | ~salient);
  if (zero_col.any().item<bool>()) {
    p.tensors["zero_cols"] = to_cpu(pack_bits(zero_col), at::kByte);
    z0 = z0 & ~zero_col.view({1, -1});
    z1 = z1 & ~zero_col.view({1, -1});
  }
  at::Tensor zl = zero_list({z0, z1});
  if (zl.defined()) p.tensors["sign_zero"] = to_cpu(zl, at::kInt);
  p.tensors["weight_shape"] = at::tensor({p.rows, p.cols}, at::kLong);
  return p;
}

std::vector<BlockCode> unpack_binary(const CodeLayout& layout, int64_t blocksize, int64_t rows, int64_t cols,
                                     const TensorGetter& get, const TensorProbe& has, c10::Device device,
                                     const std::string& where) {
  const int64_t nb = (cols + blocksize - 1) / blocksize, S = layout.slots(), Sm = layout.mean_slots();
  auto fetch = [&](const std::string& k, std::vector<int64_t> shape, bool floating) {
    return fetch_checked(get, where, k, shape, floating, device);
  };
  const at::Tensor salient = unpack_bits(fetch("salient", {(cols + 7) / 8}, false), cols);
  const int64_t k = salient.sum().item<int64_t>();
  const at::Tensor H = unpack_bits(fetch("hi", {rows, (cols + 7) / 8}, false), cols);
  at::Tensor sign = at::zeros({2, rows, cols}, at::TensorOptions().dtype(at::kChar).device(device));
  sign[0].copy_(signs_from_bits(unpack_bits(fetch("sign", {rows, (cols + 7) / 8}, false), cols)));
  const at::Tensor sal_idx = salient.nonzero().view({-1});
  sign[1].index_copy_(1, sal_idx, signs_from_bits(unpack_bits(fetch("sign2", {rows, (k + 7) / 8}, false), k)));
  if (has("zero_cols")) {
    const at::Tensor zc = unpack_bits(fetch("zero_cols", {(cols + 7) / 8}, false), cols);
    sign.masked_fill_(zc.view({1, 1, cols}), 0);
  }
  if (has("sign_zero")) apply_zero_list(sign, get("sign_zero").to(at::kInt), where + ".sign_zero");
  const at::Tensor row = fetch("row_scale", {nb, S, rows}, true).to(at::kFloat);
  at::Tensor col, mean;
  if (layout.formula == Formula::Rc) col = fetch("col_scale", {nb, S, blocksize}, true).to(at::kFloat);
  if (Sm > 0) mean = fetch("mean", {nb, Sm, rows}, true).to(at::kFloat);
  if (!at::isfinite(row).all().item<bool>() || (col.defined() && !at::isfinite(col).all().item<bool>()) ||
      (mean.defined() && !at::isfinite(mean).all().item<bool>()))
    fail(where, "scales contain NaN/Inf");
  std::vector<BlockCode> blocks;
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t c0 = b * blocksize, w = std::min(blocksize, cols - c0);
    BlockCode code;
    code.salient = salient.narrow(0, c0, w);
    code.hi = H.narrow(1, c0, w);
    code.sign = sign.narrow(2, c0, w);
    code.row = row[b];
    if (col.defined()) code.col = col[b].narrow(1, 0, w);
    if (mean.defined()) code.mean = mean[b];
    blocks.push_back(std::move(code));
  }
  return blocks;
}

at::Tensor dequantize_binary(const CodeLayout& layout, const std::vector<BlockCode>& blocks) {
  std::vector<at::Tensor> parts;
  for (const BlockCode& b : blocks) parts.push_back(dequantize_block(layout, b));
  return at::cat(parts, 1);
}

// ---- pb-llm ------------------------------------------------------------------------------------

void round_scales(PbCode& code, at::ScalarType storage) {
  for (at::Tensor* t : {&code.alpha, &code.mu, &code.scale}) *t = t->to(storage).to(at::kFloat);
}

at::Tensor dequantize_pb(const PbCode& c) {
  const at::Tensor binar = c.alpha.unsqueeze(1) * c.sign.to(at::kFloat) + c.mu.unsqueeze(1);
  const at::Tensor high = c.scale.unsqueeze(1) * (c.codes.to(at::kFloat) - c.zero.unsqueeze(1));
  return at::where(c.high, high, binar);
}

PackedLinear pack_pb(const PbCode& c, at::ScalarType storage) {
  PackedLinear p;
  p.layout = "pb-llm";
  p.rows = c.high.size(0);
  p.cols = c.high.size(1);
  p.tensors["sign"] = to_cpu(pack_bits(c.sign > 0), at::kByte);
  p.tensors["high"] = to_cpu(pack_bits(c.high), at::kByte);
  p.tensors["high_codes"] = to_cpu(c.codes.masked_select(c.high), at::kByte);
  p.tensors["alpha"] = to_cpu(c.alpha, storage);
  p.tensors["mu"] = to_cpu(c.mu, storage);
  p.tensors["scale"] = to_cpu(c.scale, storage);
  p.tensors["zero"] = to_cpu(c.zero, at::kByte);
  at::Tensor zl = zero_list({(c.sign == 0) & ~c.high});
  if (zl.defined()) p.tensors["sign_zero"] = to_cpu(zl, at::kInt);
  p.tensors["weight_shape"] = at::tensor({p.rows, p.cols}, at::kLong);
  return p;
}

PbCode unpack_pb(int64_t rows, int64_t cols, const TensorGetter& get, const TensorProbe& has, c10::Device device,
                 const std::string& where) {
  auto fetch = [&](const std::string& k, std::vector<int64_t> shape, bool floating) {
    return fetch_checked(get, where, k, shape, floating, device);
  };
  PbCode c;
  c.high = unpack_bits(fetch("high", {rows, (cols + 7) / 8}, false), cols);
  const int64_t nh = c.high.sum().item<int64_t>();
  at::Tensor sign = signs_from_bits(unpack_bits(fetch("sign", {rows, (cols + 7) / 8}, false), cols)).unsqueeze(0);
  if (has("sign_zero")) apply_zero_list(sign, get("sign_zero").to(at::kInt), where + ".sign_zero");
  c.sign = sign[0];
  c.codes = at::zeros({rows, cols}, at::TensorOptions().dtype(at::kByte).device(device));
  c.codes.masked_scatter_(c.high, fetch("high_codes", {nh}, false));
  c.alpha = fetch("alpha", {rows}, true).to(at::kFloat);
  c.mu = fetch("mu", {rows}, true).to(at::kFloat);
  c.scale = fetch("scale", {rows}, true).to(at::kFloat);
  c.zero = fetch("zero", {rows}, false).to(at::kFloat);
  return c;
}

}  // namespace ob1q::pack
