// CUDA kernels of the pb-llm layout: one warp per row, lane j on column 32w + j of word w, so
// that the code of a high weight is found by a popcount of the lower lanes' high bits.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "elem.cuh"

namespace ob1q::kernels::cu {

namespace {

// Calls f(col, weight) for every column of row r, weights rounded through round_to.
template <class F>
__device__ __forceinline__ void for_row(const PbView& v, int64_t r, int32_t lane, int32_t round_to, F&& f) {
  int64_t code = v.row_begin[r];
  for (int64_t w = 0; w < v.words; ++w) {
    const uint32_t s = v.sign[r * v.words + w], h = v.high[r * v.words + w];
    const int64_t c = w * 32 + lane;
    const bool high = (h >> lane) & 1u;
    if (c < v.cols) {
      const uint8_t cd = high ? v.codes[code + __popc(h & ((1u << lane) - 1u))] : 0;
      const float wv = dequant_pb(v, r, high, ((s >> lane) & 1u) ? 1.f : -1.f, cd);
      f(c, round_elem(wv, round_to));
    }
    code += __popc(h);
  }
}

constexpr int kMaxN = 8;

__global__ void pb_gemv_kernel(PbView v, const void* x, int32_t elem, int64_t n, int32_t round_to, const void* bias,
                               void* y) {
  const int32_t lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (r >= v.rows) return;
  float acc[kMaxN];
#pragma unroll
  for (int i = 0; i < kMaxN; ++i) acc[i] = 0.f;
  for_row(v, r, lane, round_to, [&](int64_t c, float wv) {
#pragma unroll
    for (int i = 0; i < kMaxN; ++i)
      if (i < n) acc[i] += wv * load_elem(x, i * v.cols + c, elem);
  });
#pragma unroll
  for (int i = 0; i < kMaxN; ++i) {
    float a = acc[i];
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
    if (lane == 0 && i < n) store_elem(y, i * v.rows + r, a + (bias ? load_elem(bias, r, elem) : 0.f), elem);
  }
}

__global__ void pb_dense_kernel(PbView v, int32_t round_to, int32_t out_elem, void* out) {
  const int32_t lane = threadIdx.x & 31;
  const int64_t r = int64_t(blockIdx.x) * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (r >= v.rows) return;
  for_row(v, r, lane, round_to, [&](int64_t c, float wv) { store_elem(out, r * v.cols + c, wv, out_elem); });
}

__global__ void pb_zero_kernel(PbView v, int32_t round_to, int32_t out_elem, void* out, const int64_t* rc, int64_t nzero) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= nzero) return;
  const int64_t r = rc[2 * i], c = rc[2 * i + 1];
  store_elem(out, r * v.cols + c, round_elem(dequant_pb(v, r, false, 0.f, 0), round_to), out_elem);
}

}  // namespace

void pb_gemv(const PbView& v, const void* x, int32_t elem, int64_t n, int32_t round_to, const void* bias, void* y,
             cudaStream_t stream) {
  const unsigned blocks = unsigned((v.rows + 7) / 8);
  pb_gemv_kernel<<<blocks, 256, 0, stream>>>(v, x, elem, n, round_to, bias, y);
}

void pb_dense(const PbView& v, int32_t round_to, int32_t out_elem, void* out, const int64_t* zero_rc, int64_t nzero,
              cudaStream_t stream) {
  pb_dense_kernel<<<unsigned((v.rows + 7) / 8), 256, 0, stream>>>(v, round_to, out_elem, out);
  if (nzero > 0) pb_zero_kernel<<<unsigned((nzero + 127) / 128), 128, 0, stream>>>(v, round_to, out_elem, out, zero_rc, nzero);
}

}  // namespace ob1q::kernels::cu
