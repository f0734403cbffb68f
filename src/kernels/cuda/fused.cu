// CUDA kernels of the fused elementwise ops (ob1q/kernels/fused.hpp): each rounds where the
// PyTorch op sequence it replaces rounds (values in fp32, one rounding to the dtype per op).
#include "elem.cuh"

namespace ob1q::kernels::cu {

namespace {

// One CTA per row.
__global__ void rms_norm_kernel(const void* x, const void* w, int32_t elem, int64_t H, float eps, void* y) {
  const int64_t row = blockIdx.x;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    const float v = load_elem(x, row * H + i, elem);
    ss += v * v;
  }
  __shared__ float red[32];
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float t = threadIdx.x < (blockDim.x + 31) / 32 ? red[threadIdx.x] : 0.f;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
    if (threadIdx.x == 0) red[0] = t;
  }
  __syncthreads();
  const float inv = rsqrtf(red[0] / float(H) + eps);
  for (int64_t i = threadIdx.x; i < H; i += blockDim.x) {
    const float yn = round_elem(load_elem(x, row * H + i, elem) * inv, elem);
    store_elem(y, row * H + i, load_elem(w, i, elem) * yn, elem);
  }
}

__global__ void silu_mul_kernel(const void* g, const void* u, int32_t elem, int64_t n, void* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float gv = load_elem(g, i, elem);
  store_elem(y, i, round_elem(gv / (1.0f + expf(-gv)), elem) * load_elem(u, i, elem), elem);
}

__global__ void rope_kernel(const void* x, const float* cos, const float* sin, const int64_t* pos, int32_t elem,
                            int64_t T, int64_t H, int64_t D, int64_t n, void* y) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t d = i % D, t = (i / (D * H)) % T, half = D / 2;
  const int64_t p = pos[t];
  const float c = round_elem(cos[p * D + d], elem), s = round_elem(sin[p * D + d], elem);
  const float xv = load_elem(x, i, elem);
  const float rot = d < half ? -load_elem(x, i + half, elem) : load_elem(x, i - half, elem);
  store_elem(y, i, round_elem(xv * c, elem) + round_elem(rot * s, elem), elem);
}

unsigned grid_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace

void rms_norm(const void* x, const void* w, int32_t elem, int64_t rows, int64_t H, float eps, void* y, cudaStream_t stream) {
  const int threads = H >= 4096 ? 1024 : H >= 1024 ? 512 : 128;
  rms_norm_kernel<<<unsigned(rows), threads, 0, stream>>>(x, w, elem, H, eps, y);
}

void silu_mul(const void* g, const void* u, int32_t elem, int64_t n, void* y, cudaStream_t stream) {
  silu_mul_kernel<<<grid_for(n, 256), 256, 0, stream>>>(g, u, elem, n, y);
}

void rope(const void* x, const float* cos, const float* sin, const int64_t* pos, int32_t elem, int64_t B, int64_t T,
          int64_t H, int64_t D, void* y, cudaStream_t stream) {
  const int64_t n = B * T * H * D;
  rope_kernel<<<grid_for(n, 256), 256, 0, stream>>>(x, cos, sin, pos, elem, T, H, D, n, y);
}

}  // namespace ob1q::kernels::cu
