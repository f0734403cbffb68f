// Break-point quantiles of methods.md §7, computed the way the references get them: float32
// levels from LibTorch's CPU linspace and NumPy's 'linear' quantile evaluated in float32
// (NumPy >= 2 keeps float32 inputs in float32, including the two-sided interpolation).
#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "ob1q/quant/binarize.hpp"

namespace ob1q::quant {
namespace {

// Rounds to float32 through memory, so that no compiler contraction (FMA) or excess precision
// can merge two of the float32 steps below into one rounding.
float fl32(float x) {
  volatile float v = x;
  return v;
}

}  // namespace

at::Tensor quantile_levels() { return at::linspace(0.10, 0.90, 81, at::TensorOptions().dtype(at::kFloat)); }

std::vector<float> quantiles_f32(const at::Tensor& pool, const at::Tensor& levels) {
  TORCH_CHECK(pool.scalar_type() == at::kFloat, "quantiles_f32: the pool must be float32");
  const int64_t n = pool.numel();
  TORCH_CHECK(n > 0, "quantiles_f32: empty pool");
  const at::Tensor q = levels.to(at::kCPU, at::kFloat).contiguous().reshape(-1);
  const int64_t k = q.numel();
  const float* qp = q.data_ptr<float>();

  // h = fl32((n-1) q) with n-1 converted to float32 as NumPy does for a Python int next to a
  // float32 array; i = floor(h), t = h - i (exact); both neighbours are v_{n-1} when h >= n-1.
  const float last = static_cast<float>(n - 1);
  std::vector<int64_t> idx(2 * static_cast<size_t>(k));
  std::vector<float> t(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    const float h = fl32(last * qp[j]);
    const float fi = std::floor(h);
    int64_t lo = static_cast<int64_t>(fi), hi = lo + 1;
    if (h >= last) lo = hi = n - 1;
    if (h < 0) lo = hi = 0;
    idx[2 * j] = lo;
    idx[2 * j + 1] = hi;
    t[j] = fl32(h - fi);
  }

  // Sort on the pool's device; fetch only the 2k neighbours (one transfer).
  const at::Tensor sorted = std::get<0>(pool.reshape(-1).sort());
  const at::Tensor where = at::tensor(idx, at::TensorOptions().dtype(at::kLong)).to(sorted.device());
  const at::Tensor ab = sorted.index_select(0, where).to(at::kCPU).contiguous();
  const float* v = ab.data_ptr<float>();

  std::vector<float> p(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    const float a = v[2 * j], b = v[2 * j + 1];
    const float delta = fl32(b - a);
    p[j] = t[j] < 0.5f ? fl32(a + fl32(delta * t[j])) : fl32(b - fl32(delta * fl32(1.0f - t[j])));
  }
  return p;
}

}  // namespace ob1q::quant
