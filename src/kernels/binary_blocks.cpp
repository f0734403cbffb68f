// The binary-blocks layout as a PackedMatrix: the checkpoint's bit planes rearranged once, at
// load, into the tile stream of binary_tiles.hpp (on the target device), plus the small tables
// the ops need. The weight is never materialised whole: decode runs the tensor-core kernel on
// the bits, everything else dequantizes 256 rows at a time.
#include <ATen/ATen.h>

#include <map>
#include <vector>

#include "ob1q/common/error.hpp"
#include "ob1q/kernels/bits.hpp"
#include "ob1q/kernels/packed_matrix.hpp"
#include "ops.hpp"
#include "resident_matrix.hpp"

namespace ob1q::kernels {

using at::indexing::Slice;

namespace {

int32_t scale_type_of(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return kScaleF16;
    case at::kBFloat16: return kScaleBF16;
    case at::kFloat: return kScaleF32;
    default: fail("packed weight", std::string("unsupported scale dtype ") + c10::toString(t));
  }
}

// The column structure shared by all rows: which tile holds which column.
struct TileStream {
  std::vector<int32_t> tile_col, tile_info, block_tile_begin, p1_pos;
  int64_t tiles = 0;
};

TileStream tile_stream(const at::Tensor& salient_cpu, int64_t cols, int64_t bs) {
  TileStream ts;
  const int64_t nb = (cols + bs - 1) / bs;
  const bool* sal = salient_cpu.data_ptr<bool>();
  ts.p1_pos.assign(cols, -1);
  auto add_tile = [&](const std::vector<int64_t>& cs, int64_t b, int plane) {
    for (int k = 0; k < 16; ++k) ts.tile_col.push_back(k < int(cs.size()) ? int32_t(cs[k]) : -1);
    ts.tile_info.push_back(int32_t(b) | (plane << 24));
    ++ts.tiles;
  };
  for (int64_t b = 0; b < nb; ++b) {
    ts.block_tile_begin.push_back(int32_t(ts.tiles));
    const int64_t c0 = b * bs, w = std::min(bs, cols - c0);
    for (int64_t t = 0; t < w; t += 16) {
      std::vector<int64_t> cs;
      for (int64_t c = c0 + t; c < std::min(c0 + w, c0 + t + 16); ++c) cs.push_back(c);
      add_tile(cs, b, 0);
    }
    std::vector<int64_t> sc;
    for (int64_t c = c0; c < c0 + w; ++c)
      if (sal[c]) sc.push_back(c);
    for (size_t t = 0; t < sc.size(); t += 16) {
      std::vector<int64_t> cs(sc.begin() + t, sc.begin() + std::min(sc.size(), t + 16));
      for (size_t k = 0; k < cs.size(); ++k) ts.p1_pos[cs[k]] = int32_t(16 * ts.tiles + int64_t(k));
      add_tile(cs, b, 1);
    }
    ts.tile_info.back() |= 1 << 25;  // last tile of the block
  }
  ts.block_tile_begin.push_back(int32_t(ts.tiles));
  return ts;
}

// Rearranges two bit sources into the tile stream's words: `plane0` [m, d] supplies plane-0
// tiles, `plane1` [m, d] plane-1 tiles (bool, on the target device).
at::Tensor stream_words(const at::Tensor& plane0, const at::Tensor& plane1, const TileStream& ts, int64_t words4) {
  const int64_t m = plane0.size(0), d = plane0.size(1), mt = (m + 15) / 16, words = 4 * words4;
  const auto dev = plane0.device();
  // Source column of every (tile, tile column) in [plane0 | plane1 | zero].
  std::vector<int64_t> src(4 * words * 16, 2 * d);
  for (int64_t t = 0; t < ts.tiles; ++t) {
    const int64_t plane = tile_plane(ts.tile_info[t]);
    for (int k = 0; k < 16; ++k) {
      const int32_t c = ts.tile_col[t * 16 + k];
      if (c >= 0) src[t * 16 + k] = plane * d + c;
    }
  }
  // For every (word, lane, bit): the row within the row tile and the source column.
  std::vector<int64_t> rowoff(32 * 32), colidx(words * 32 * 32);
  for (int32_t lane = 0; lane < 32; ++lane)
    for (int32_t p = 0; p < 32; ++p) {
      int32_t row, toff, kk;
      bit_source(lane, p, &row, &toff, &kk);
      rowoff[lane * 32 + p] = row;
      for (int64_t w = 0; w < words; ++w) colidx[(w * 32 + lane) * 32 + p] = src[(4 * w + toff) * 16 + kk];
    }
  auto i64 = at::TensorOptions().dtype(at::kLong);
  const at::Tensor R = at::from_blob(rowoff.data(), {1, 32, 32}, i64).to(dev).expand({words, 32, 32});
  const at::Tensor C = at::from_blob(colidx.data(), {words, 32, 32}, i64).to(dev);
  at::Tensor A = at::cat({plane0, plane1, at::zeros({m, 1}, plane0.options())}, 1);
  if (mt * 16 != m) A = at::cat({A, at::zeros({mt * 16 - m, A.size(1)}, A.options())}, 0);
  A = A.view({mt, 16, 2 * d + 1});
  const at::Tensor pow2 = at::bitwise_left_shift(at::ones({32}, i64.device(dev)), at::arange(32, i64.device(dev)));
  std::vector<at::Tensor> chunks;
  const int64_t step = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, words * 1024));
  for (int64_t r = 0; r < mt; r += step) {
    const int64_t n = std::min(step, mt - r);
    const at::Tensor bits = A.narrow(0, r, n).index({Slice(), R, C});  // [n, words, 32, 32]
    chunks.push_back((bits.to(at::kLong) * pow2).sum(-1).to(at::kInt));  // [n, words, 32]
  }
  const at::Tensor w = at::cat(chunks, 0);                           // [mt, words, 32]
  return w.view({mt, words4, 4, 32}).permute({0, 1, 3, 2}).contiguous();  // [mt, words4, 32, 4]
}

at::Tensor i32_tensor(const std::vector<int32_t>& v, c10::Device dev) {
  return at::tensor(at::ArrayRef<int32_t>(v), at::kInt).to(dev);
}

class BinaryBlocksMatrix : public ResidentMatrix {
 public:
  explicit BinaryBlocksMatrix(const BinaryBlocksStored& st, c10::Device dev)
      : ResidentMatrix(dev, st.rows, st.cols, st.round_to) {
    const int64_t m = st.rows, d = st.cols, bs = st.blocksize, nb = (d + bs - 1) / bs;
    v_.rows = m, v_.cols = d, v_.blocksize = bs, v_.nblocks = nb;
    v_.table = st.table, v_.slots = st.slots, v_.mean_slots = st.mean_slots;
    const at::Tensor salient = unpack_bits(st.salient.cpu(), d).contiguous();
    const TileStream ts = tile_stream(salient, d, bs);
    tiles_ = ts.tiles;
    const int64_t words = (ts.tiles + 3) / 4;
    v_.words4 = (words + 3) / 4;
    // Bit planes, expanded once on the device to build the stream.
    const at::Tensor sign = unpack_bits(st.sign.to(dev), d), hi = unpack_bits(st.hi.to(dev), d);
    const at::Tensor sal_idx = salient.nonzero().view({-1}).to(dev);
    at::Tensor s1 = at::zeros({m, d}, sign.options());
    if (sal_idx.numel() > 0) s1.index_copy_(1, sal_idx, unpack_bits(st.sign2.to(dev), sal_idx.numel()));
    s_ = stream_words(sign, s1, ts, v_.words4);
    h_ = stream_words(hi, hi, ts, v_.words4);
    block_tile_begin_ = i32_tensor(ts.block_tile_begin, dev);
    block_tile_begin_host_ = ts.block_tile_begin;
    if (dev.is_cuda()) tickets_ = at::zeros({(m + 16 * kGemvWarps - 1) / (16 * kGemvWarps)}, at::TensorOptions().dtype(at::kInt).device(dev));
    tile_info_ = i32_tensor(ts.tile_info, dev);
    tile_col_ = i32_tensor(ts.tile_col, dev);
    p1_pos_ = i32_tensor(ts.p1_pos, dev);
    at::Tensor flags = salient.to(at::kChar) * kColSalient;
    if (st.zero_cols.defined()) flags = flags + unpack_bits(st.zero_cols.cpu(), d).to(at::kChar) * kColZero;
    col_flags_ = flags.contiguous().to(dev);
    v_.scale_type = scale_type_of(st.row_scale.scalar_type());
    row_scale_ = st.row_scale.contiguous().to(dev);
    if (st.col_scale.defined()) col_scale_ = st.col_scale.to(st.row_scale.scalar_type()).contiguous().to(dev);
    if (st.mean.defined()) mean_ = st.mean.to(st.row_scale.scalar_type()).contiguous().to(dev);
    if (v_.table.formula != kRc && !dev.is_cuda()) {  // the CPU emulation's class sums
      class_mask_ = at::stack({salient, ~salient}, 0).to(at::kFloat);  // [2, d]: salient, not salient
      const int64_t pad = nb * bs - d;
      if (pad > 0) class_mask_ = at::cat({class_mask_, at::zeros({2, pad}, class_mask_.options())}, 1);
      class_mask_ = class_mask_.to(dev);
    }
    set_pointers();
    if (st.sign_zero.defined() && st.sign_zero.size(0) > 0) zero_signs(st, salient);
  }

  std::string layout() const override { return "binary-blocks"; }

  at::Tensor linear_emulated(const at::Tensor& x, const at::Tensor& bias, at::ScalarType operand) const override {
    TORCH_CHECK(!device_.is_cuda(), "linear_emulated: CPU matrices only");
    std::vector<int64_t> out_shape = x.sizes().vec();
    out_shape.back() = v_.rows;
    const at::Tensor x2 = x.reshape({-1, v_.cols}).to(at::kFloat).contiguous();
    at::Tensor y = cpu::binary_gemv_emulated(v_, tiles_, x2, class_sums(x2), operand);
    add_corrections(y, x2);
    if (bias.defined()) y = y + bias.to(at::kFloat);
    return y.view(out_shape);
  }

  at::Tensor decode(const at::Tensor& x2, const at::Tensor& bias) const override {
    return cuda::binary_gemv(v_, block_tile_begin_host_, tickets_, x2, bias);
  }
  at::Tensor cpu_rows(int64_t r0, int64_t r1) const override { return cpu::binary_dense_rows(v_, fixes_, round_to_, r0, r1); }
  void cuda_dense(at::Tensor& out) const override { cuda::binary_dense(v_, fixes_, round_to_, out); }
  std::vector<const at::Tensor*> own_tensors() const override {
    return {&s_, &h_, &block_tile_begin_, &tile_info_, &tile_col_, &p1_pos_, &col_flags_, &row_scale_, &col_scale_, &mean_,
            &class_mask_, &tickets_, &fixes_.rc, &fixes_.mask};
  }

 private:
  // fp32 [nblocks, 2, N]: per block, the sum of x over salient / other columns (means only; the
  // CUDA kernel computes the same in shared memory).
  at::Tensor class_sums(const at::Tensor& x2) const {
    if (!class_mask_.defined()) return at::Tensor();
    const int64_t N = x2.size(0), nb = v_.nblocks, bs = v_.blocksize, pad = nb * bs - v_.cols;
    at::Tensor xf = x2.to(at::kFloat);
    if (pad > 0) xf = at::cat({xf, at::zeros({N, pad}, xf.options())}, 1);
    // [N, nb, bs] x [2, nb, bs] -> [nb, 2, N]
    return at::einsum("nbj,cbj->bcn", {xf.view({N, nb, bs}), class_mask_.view({2, nb, bs})}).contiguous();
  }

  void set_pointers() {
    v_.s = reinterpret_cast<const uint32_t*>(s_.data_ptr<int32_t>());
    v_.h = reinterpret_cast<const uint32_t*>(h_.data_ptr<int32_t>());
    v_.block_tile_begin = block_tile_begin_.data_ptr<int32_t>();
    v_.tile_info = tile_info_.data_ptr<int32_t>();
    v_.tile_col = tile_col_.data_ptr<int32_t>();
    v_.p1_pos = p1_pos_.data_ptr<int32_t>();
    v_.col_flags = col_flags_.data_ptr<int8_t>();
    v_.row_scale = row_scale_.data_ptr();
    v_.col_scale = col_scale_.defined() ? col_scale_.data_ptr() : nullptr;
    v_.mean = mean_.defined() ? mean_.data_ptr() : nullptr;
  }

  // sign_zero entries (plane, row, col): exact fix-ups for dequantization, and for the GEMV the
  // term the kernel added with sign -1 where the true sign is 0 (added back: + coef * x[col]).
  // Read from the stored (host) tensors: entries are few.
  void zero_signs(const BinaryBlocksStored& st, const at::Tensor& salient) {
    const at::Tensor z = st.sign_zero.to(at::kLong).cpu().contiguous();
    const int64_t* e = z.data_ptr<int64_t>();
    const at::Tensor hi = st.hi.cpu().contiguous(), row = st.row_scale.to(at::kFloat).cpu().contiguous();
    const at::Tensor col = st.col_scale.defined() ? st.col_scale.to(at::kFloat).cpu().contiguous() : at::Tensor();
    const uint8_t* hb = hi.data_ptr<uint8_t>();
    const bool* sal = salient.data_ptr<bool>();
    const int64_t m = v_.rows, bs = v_.blocksize, S = v_.slots, hstride = hi.size(1);
    std::map<std::pair<int64_t, int64_t>, int32_t> merged;  // both planes of a weight may be zero
    for (int64_t i = 0; i < z.size(0); ++i) merged[{e[3 * i + 1], e[3 * i + 2]}] |= 1 << e[3 * i];
    std::vector<int64_t> rc, rows, cols;
    std::vector<int32_t> mask;
    std::vector<float> coef;
    for (const auto& [k, planes] : merged) {
      const int64_t r = k.first, c = k.second, b = c / bs, j = c - b * bs;
      rc.push_back(r), rc.push_back(c), mask.push_back(planes);
      const int h = (hb[r * hstride + c / 8] >> (c % 8)) & 1;
      for (int p = 0; p < 2; ++p) {
        const int slot = v_.table.slot[sal[c] ? 1 : 0][h][p];
        if (!(planes & (1 << p)) || slot < 0) continue;
        float a = row.data_ptr<float>()[(b * S + slot) * m + r];
        if (v_.table.formula == kRc) a *= col.data_ptr<float>()[(b * S + slot) * bs + j];
        rows.push_back(r), cols.push_back(c), coef.push_back(a);
      }
    }
    fixes_.rc = at::tensor(at::ArrayRef<int64_t>(rc), at::kLong).view({-1, 2}).to(device_);
    fixes_.mask = at::tensor(at::ArrayRef<int32_t>(mask), at::kInt).to(device_);
    set_corrections(rows, cols, coef);
  }

  BinaryView v_;
  int64_t tiles_ = 0;
  at::Tensor s_, h_, block_tile_begin_, tile_info_, tile_col_, p1_pos_, col_flags_, row_scale_, col_scale_, mean_;
  at::Tensor class_mask_;  // emulation only: [2, nblocks * blocksize] salient / other columns
  std::vector<int32_t> block_tile_begin_host_;
  at::Tensor tickets_;  // CUDA GEMV: one counter per row group (see cuda/binary_blocks.cu)
  ZeroFixes fixes_;
};

}  // namespace

at::Tensor unpack_bits(const at::Tensor& bytes, int64_t n) {
  const at::Tensor shifts = at::arange(8, bytes.options().dtype(at::kInt));
  at::Tensor bits = at::bitwise_and(bytes.to(at::kInt).unsqueeze(-1).bitwise_right_shift(shifts), 1).to(at::kBool);
  std::vector<int64_t> shape = bytes.sizes().vec();
  shape.back() *= 8;
  return bits.reshape(shape).narrow(-1, 0, n);
}

std::shared_ptr<PackedMatrix> make_binary_blocks(const BinaryBlocksStored& stored, c10::Device device) {
  return std::make_shared<BinaryBlocksMatrix>(stored, device);
}

}  // namespace ob1q::kernels
