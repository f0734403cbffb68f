#include "ob1q/kernels/fused.hpp"

#include <ATen/ATen.h>

#include "ops.hpp"

namespace ob1q::kernels {

namespace {
bool on_cuda(const at::Tensor& x) {
  return x.is_cuda() && cuda::built() && (x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16 ||
                                          x.scalar_type() == at::kFloat);
}
}  // namespace

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  if (on_cuda(x)) return cuda::rms_norm(x, w, eps);
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * y.to(x.scalar_type());
}

at::Tensor silu_mul(const at::Tensor& g, const at::Tensor& u) {
  if (on_cuda(g)) return cuda::silu_mul(g, u);
  return at::silu(g) * u;
}

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& pos) {
  if (on_cuda(x)) return cuda::rope(x, cos, sin, pos);
  const int64_t half = x.size(3) / 2;
  const at::Tensor c = cos.index_select(0, pos).to(x.scalar_type()).unsqueeze(1);  // [T, 1, D]
  const at::Tensor s = sin.index_select(0, pos).to(x.scalar_type()).unsqueeze(1);
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * c + rotated * s;
}

}  // namespace ob1q::kernels
