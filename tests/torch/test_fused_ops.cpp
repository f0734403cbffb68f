// The fused elementwise ops of a decoder block: on a CUDA device (CUDA builds with a GPU) each
// kernel against the CPU implementation, which is HF's PyTorch op sequence (the logit parity
// tests in test_model_parity.cpp check that sequence against transformers).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ob1q/kernels/fused.hpp"
#include "ob1q/kernels/packed_matrix.hpp"

using namespace ob1q;

namespace {

// Largest difference in units of the dtype's relative precision.
double ulps(const at::Tensor& got, const at::Tensor& want, at::ScalarType dt) {
  const double eps = dt == at::kHalf ? 1.0 / 1024 : dt == at::kBFloat16 ? 1.0 / 128 : 1.0 / (1 << 23);
  const at::Tensor g = got.cpu().to(at::kDouble), w = want.cpu().to(at::kDouble);
  return ((g - w).abs() / (w.abs() * eps + 1e-6)).max().item<double>();
}

}  // namespace

TEST(FusedOpsCuda, KernelsMatchCpuOps) {
  if (!kernels::cuda_kernels_built() || !at::hasCUDA()) GTEST_SKIP() << "no CUDA kernels or no GPU in this build/machine";
  at::manual_seed(4);
  const at::Device gpu(at::kCUDA, 0);
  for (at::ScalarType dt : {at::kHalf, at::kBFloat16, at::kFloat}) {
    const at::Tensor x = at::randn({2, 3, 4096}).to(dt), w = (at::rand({4096}) + 0.5).to(dt);
    EXPECT_LT(ulps(kernels::rms_norm(x.to(gpu), w.to(gpu), 1e-5), kernels::rms_norm(x, w, 1e-5), dt), 2.0) << dt;
    const at::Tensor g = (at::randn({2, 3, 11008}) * 3).to(dt), u = at::randn({2, 3, 11008}).to(dt);
    EXPECT_LT(ulps(kernels::silu_mul(g.to(gpu), u.to(gpu)), kernels::silu_mul(g, u), dt), 2.0) << dt;
    const at::Tensor q = at::randn({1, 5, 32, 128}).to(dt);
    const at::Tensor pos = at::arange(7, 12, at::kLong);
    const at::Tensor ang = at::outer(at::arange(64, at::kFloat), at::rand({64}));
    const at::Tensor cos = at::cat({ang, ang}, 1).cos(), sin = at::cat({ang, ang}, 1).sin();
    EXPECT_LT(ulps(kernels::rope(q.to(gpu), cos.to(gpu), sin.to(gpu), pos.to(gpu)), kernels::rope(q, cos, sin, pos), dt), 2.0)
        << dt;
  }
}
