// The device ops behind PackedMatrix, one name per op: the CPU reference implementations
// (cpu_ops.cpp, every build) and the CUDA ones (cuda_ops_cuda.cpp + cuda/*.cu, built only
// against a CUDA LibTorch; cuda_ops_stub.cpp otherwise). Internal to src/kernels.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "ob1q/kernels/binary_tiles.hpp"
#include "ob1q/kernels/pb_rows.hpp"

namespace ob1q::kernels {

// Exact dequantization of weights the sign_zero list marks: (row, col) pairs and, per pair,
// which planes have a zero sign (bit p = plane p).
struct ZeroFixes {
  at::Tensor rc;    // int64 [u, 2]
  at::Tensor mask;  // int32 [u]
};

namespace cpu {
// Rows [r0, r1) of the dense weight, fp32 values already rounded to `round_to`.
at::Tensor binary_dense_rows(const BinaryView& v, const ZeroFixes& fixes, at::ScalarType round_to, int64_t r0, int64_t r1);
// The GEMV kernel of cuda/binary_blocks.cu lane by lane: y [N, rows] for x [N, cols] (fp32),
// B operands rounded to `operand`; xcls as for cuda::binary_gemv.
at::Tensor binary_gemv_emulated(const BinaryView& v, int64_t tiles, const at::Tensor& x, const at::Tensor& xcls,
                                at::ScalarType operand);
at::Tensor pb_dense_rows(const PbView& v, const at::Tensor& zero_rc, at::ScalarType round_to, int64_t r0, int64_t r1);
}  // namespace cpu

namespace cuda {
bool built();
// y [N, rows] = x2d [N, cols] W^T + bias, x2d fp16/bf16 contiguous, N <= kMaxGemvRows.
// `block_tile_begin`: the host copy of v.block_tile_begin (to plan the launch); `tickets`: int32
// device scratch of at least ceil(rows / 128) zeros, owned by the matrix (left zero after use).
at::Tensor binary_gemv(const BinaryView& v, const std::vector<int32_t>& block_tile_begin, const at::Tensor& tickets,
                       const at::Tensor& x2d, const at::Tensor& bias);
// out [rows, cols] (fp16/bf16/fp32) = the dense weight, rounded through `round_to`.
void binary_dense(const BinaryView& v, const ZeroFixes& fixes, at::ScalarType round_to, at::Tensor& out);
at::Tensor pb_gemv(const PbView& v, const at::Tensor& x2d, const at::Tensor& bias, at::ScalarType round_to);
// The fused elementwise ops (ob1q/kernels/fused.hpp).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor silu_mul(const at::Tensor& g, const at::Tensor& u);
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& pos);
void pb_dense(const PbView& v, const at::Tensor& zero_rc, at::ScalarType round_to, at::Tensor& out);
}  // namespace cuda

}  // namespace ob1q::kernels
