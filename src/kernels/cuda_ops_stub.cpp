// CPU-only builds: no CUDA kernels (PackedMatrix never calls these on a CPU device).
#include "ob1q/kernels/packed_matrix.hpp"
#include "ops.hpp"

namespace ob1q::kernels {

bool cuda_kernels_built() { return false; }

namespace cuda {

bool built() { return false; }

namespace {
[[noreturn]] void unavailable() { TORCH_CHECK(false, "ob1q was built without the CUDA kernels"); }
}  // namespace

at::Tensor binary_gemv(const BinaryView&, const std::vector<int32_t>&, const at::Tensor&, const at::Tensor&,
                       const at::Tensor&) {
  unavailable();
}
void binary_dense(const BinaryView&, const ZeroFixes&, at::ScalarType, at::Tensor&) { unavailable(); }
at::Tensor pb_gemv(const PbView&, const at::Tensor&, const at::Tensor&, at::ScalarType) { unavailable(); }
void pb_dense(const PbView&, const at::Tensor&, at::ScalarType, at::Tensor&) { unavailable(); }
at::Tensor rms_norm(const at::Tensor&, const at::Tensor&, double) { unavailable(); }
at::Tensor silu_mul(const at::Tensor&, const at::Tensor&) { unavailable(); }
at::Tensor rope(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&) { unavailable(); }

}  // namespace cuda
}  // namespace ob1q::kernels
