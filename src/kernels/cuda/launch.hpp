// Launchers of the CUDA kernels (cuda/*.cu), in plain C++ types so that the .cu units need no
// LibTorch headers. Called from cuda_ops_cuda.cpp on the current stream.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "ob1q/kernels/binary_tiles.hpp"
#include "ob1q/kernels/pb_rows.hpp"

namespace ob1q::kernels::cu {

enum Elem : int32_t { kF16 = 0, kBF16 = 1, kF32 = 2 };

// y [n, rows] (elem) = x [n, cols] W^T + bias, n <= 8; `part`: fp32 scratch [plan.splits][n][rows].
// `tickets`: int32 [plan.row_groups], all zero (each launch leaves them zero again).
void binary_gemv(const BinaryView& v, const GemvPlan& plan, const void* x, int32_t elem, int64_t n, const void* bias,
                 float* part, int32_t* tickets, void* y, cudaStream_t stream);
// out [rows, cols] (out_elem) = the dense weight rounded through `round_to`; then the exact
// values of `nfix` (row, col, zero-plane mask) entries.
void binary_dense(const BinaryView& v, int32_t round_to, int32_t out_elem, void* out, const int64_t* fix_rc,
                  const int32_t* fix_mask, int64_t nfix, cudaStream_t stream);

void pb_gemv(const PbView& v, const void* x, int32_t elem, int64_t n, int32_t round_to, const void* bias, void* y,
             cudaStream_t stream);
void pb_dense(const PbView& v, int32_t round_to, int32_t out_elem, void* out, const int64_t* zero_rc, int64_t nzero,
              cudaStream_t stream);

// Fused elementwise ops (ob1q/kernels/fused.hpp); tensors contiguous.
void rms_norm(const void* x, const void* w, int32_t elem, int64_t rows, int64_t H, float eps, void* y, cudaStream_t stream);
void silu_mul(const void* g, const void* u, int32_t elem, int64_t n, void* y, cudaStream_t stream);
void rope(const void* x, const float* cos, const float* sin, const int64_t* pos, int32_t elem, int64_t B, int64_t T,
          int64_t H, int64_t D, void* y, cudaStream_t stream);

// The last launch error as text, or null.
const char* last_error();

}  // namespace ob1q::kernels::cu
