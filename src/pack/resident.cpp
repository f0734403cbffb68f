// From the stored tensors of a packed module to a kernels::PackedMatrix that keeps them packed
// in memory: the layout's traits row says which stored tensors it has and how the kernels see its
// groups; the tensors are validated exactly as for dequantization.
#include "ob1q/pack/resident.hpp"

#include <ATen/ATen.h>

#include "ob1q/common/error.hpp"
#include "ob1q/pack/binary_code.hpp"
#include "ob1q/pack/packed_linear.hpp"

namespace ob1q::pack {

kernels::BinaryTable binary_table(const CodeLayout& layout) {
  kernels::BinaryTable t;
  t.formula = layout.formula == Formula::Rc ? kernels::kRc : layout.formula == Formula::Arb ? kernels::kArb : kernels::kBraq;
  for (int sal = 0; sal < 2; ++sal)
    for (int hi = 0; hi < 2; ++hi) {
      for (int k = 0; k < 2; ++k) t.slot[sal][hi][k] = t.mean[sal][hi][k] = -1;
      // The first group that takes a weight of this column class and hi bit (docs/format.md).
      for (size_t g = 0; g < layout.groups.size(); ++g) {
        const GroupSpec& s = layout.groups[g];
        if (s.salient != bool(sal) || (s.hi >= 0 && s.hi != hi)) continue;
        for (int p = 0; p < s.planes; ++p) t.slot[sal][hi][p] = int8_t(layout.slot(g, p));
        if (layout.formula == Formula::Arb) t.mean[sal][hi][0] = int8_t(layout.mean_slot(g, 0));
        if (layout.formula == Formula::Braq)
          for (int p = 0; p < s.planes; ++p) t.mean[sal][hi][p] = int8_t(layout.mean_slot(g, p));
        break;
      }
    }
  return t;
}

namespace {

bool kernel_scale_dtype(at::ScalarType t) { return t == at::kHalf || t == at::kBFloat16 || t == at::kFloat; }

}  // namespace

std::shared_ptr<kernels::PackedMatrix> make_resident(const nlohmann::json& spec, int64_t rows, int64_t cols,
                                                     const TensorGetter& get, const TensorProbe& has,
                                                     at::ScalarType round_to, c10::Device device,
                                                     const std::string& where, std::string* unsupported) {
  const c10::Device cpu(c10::kCPU);
  auto fetch = [&](const std::string& k, std::vector<int64_t> shape, bool floating) {
    return fetch_checked(get, where, k, shape, floating, cpu);
  };
  auto finite = [&](const at::Tensor& t, const char* k) {
    if (t.defined() && !at::isfinite(t.to(at::kFloat)).all().item<bool>()) fail(where + "." + k, "scales contain NaN/Inf");
  };
  try {
    const std::string kind = spec.at("layout").get<std::string>();
    const int64_t row_bytes = (cols + 7) / 8;
    if (kind == "pb-llm") {
      kernels::PbLlmStored st;
      st.rows = rows, st.cols = cols, st.round_to = round_to;
      st.sign = fetch("sign", {rows, row_bytes}, false);
      st.high = fetch("high", {rows, row_bytes}, false);
      const int64_t nh = at::bitwise_and(st.high.to(at::kInt).unsqueeze(-1).bitwise_right_shift(at::arange(8, at::kInt)), 1)
                             .sum().item<int64_t>();
      st.high_codes = fetch("high_codes", {nh}, false);
      st.alpha = fetch("alpha", {rows}, true), st.mu = fetch("mu", {rows}, true), st.scale = fetch("scale", {rows}, true);
      st.zero = fetch("zero", {rows}, false);
      for (auto& [k, t] : {std::pair<const char*, at::Tensor&>{"alpha", st.alpha}, {"mu", st.mu}, {"scale", st.scale}}) {
        finite(t, k);
        if (!kernel_scale_dtype(t.scalar_type())) {
          if (unsupported) *unsupported = std::string("scale dtype ") + c10::toString(t.scalar_type());
          return nullptr;
        }
      }
      if (has("sign_zero")) {
        st.sign_zero = get("sign_zero");
        check_zero_list(st.sign_zero, 1, rows, cols, where + ".sign_zero");
      }
      return kernels::make_pb_llm(st, device);
    }
    if (kind != "binary-blocks") {
      if (unsupported) *unsupported = "layout " + kind;
      return nullptr;
    }
    const CodeLayout layout = CodeLayout::from_json(spec, where);
    const int64_t bs = spec.at("blocksize").get<int64_t>();
    if (bs <= 0) fail(where, "invalid blocksize");
    const int64_t nb = (cols + bs - 1) / bs, S = layout.slots(), Sm = layout.mean_slots();
    kernels::BinaryBlocksStored st;
    st.rows = rows, st.cols = cols, st.blocksize = bs, st.round_to = round_to;
    st.table = binary_table(layout);
    st.slots = int32_t(S), st.mean_slots = int32_t(Sm);
    st.salient = fetch("salient", {row_bytes}, false);
    const int64_t k = at::bitwise_and(st.salient.to(at::kInt).unsqueeze(-1).bitwise_right_shift(at::arange(8, at::kInt)), 1)
                          .sum().item<int64_t>();
    st.sign = fetch("sign", {rows, row_bytes}, false);
    st.hi = fetch("hi", {rows, row_bytes}, false);
    st.sign2 = fetch("sign2", {rows, (k + 7) / 8}, false);
    if (has("zero_cols")) st.zero_cols = fetch("zero_cols", {row_bytes}, false);
    if (has("sign_zero")) {
      st.sign_zero = get("sign_zero");
      check_zero_list(st.sign_zero, 2, rows, cols, where + ".sign_zero");
    }
    st.row_scale = fetch("row_scale", {nb, S, rows}, true);
    if (layout.formula == Formula::Rc) st.col_scale = fetch("col_scale", {nb, S, bs}, true);
    if (Sm > 0) st.mean = fetch("mean", {nb, Sm, rows}, true);
    finite(st.row_scale, "row_scale"), finite(st.col_scale, "col_scale"), finite(st.mean, "mean");
    for (const at::Tensor* t : {&st.row_scale, &st.col_scale, &st.mean})
      if (t->defined() && !kernel_scale_dtype(t->scalar_type())) {
        if (unsupported) *unsupported = std::string("scale dtype ") + c10::toString(t->scalar_type());
        return nullptr;
      }
    return kernels::make_binary_blocks(st, device);
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("malformed layout: ") + e.what());
  }
}

}  // namespace ob1q::pack
