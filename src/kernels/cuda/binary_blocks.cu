// CUDA kernels of the binary-blocks layout (see binary_tiles.hpp for the tile stream and the
// decomposition). Decode: binary_prep builds the B operands (scaled activations, 4 "q columns"
// per batch row) in mma fragment order, binary_gemv streams the weight bits once and multiplies
// +-1 tiles built from them on the tensor cores. Prefill: binary_dense writes the exact weight.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "launch.hpp"

namespace ob1q::kernels::cu {

namespace {

__device__ __forceinline__ uint16_t to_elem_bits(float f, int32_t elem) {
  return elem == kBF16 ? float_to_bf16_rne(f) : float_to_half_rne(f);
}

__device__ __forceinline__ float load_elem(const void* p, int64_t i, int32_t elem) {
  if (elem == kBF16) return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
  if (elem == kF16) return half_to_float(static_cast<const uint16_t*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

__device__ __forceinline__ void store_elem(void* p, int64_t i, float f, int32_t elem) {
  if (elem == kF32) static_cast<float*>(p)[i] = f;
  else static_cast<uint16_t*>(p)[i] = to_elem_bits(f, elem);
}

__device__ __forceinline__ float round_through(float f, int32_t elem) {
  if (elem == kF16) return half_to_float(float_to_half_rne(f));
  if (elem == kBF16) return bf16_to_float(float_to_bf16_rne(f));
  return f;
}

// ---- B operands ------------------------------------------------------------------------------

__global__ void prep_kernel(BinaryView v, int64_t tiles, const void* x, int32_t elem, int64_t n, int32_t nt_count,
                            uint2* out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= tiles * nt_count * 32) return;
  const int32_t lane = int32_t(idx & 31);
  const int64_t t = idx / (32 * nt_count);
  const int32_t nt = int32_t((idx / 32) % nt_count);
  const int32_t g = lane >> 2, tq = lane & 3;
  const int32_t q = g & 3;
  const int64_t batch = int64_t(nt) * 2 + (g >> 2);
  const int32_t info = v.tile_info[t];
  const int64_t b = tile_block(info);
  const int32_t plane = tile_plane(info);
  uint16_t h[4];
  const int32_t ks[4] = {2 * tq, 2 * tq + 1, 2 * tq + 8, 2 * tq + 9};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int32_t col = v.tile_col[t * 16 + ks[i]];
    float val = 0.f;
    if (batch < n && col >= 0) val = bvec_coef(v, b, plane, col, q) * load_elem(x, batch * v.cols + col, elem);
    h[i] = to_elem_bits(val, elem);
  }
  out[idx] = make_uint2(uint32_t(h[0]) | (uint32_t(h[1]) << 16), uint32_t(h[2]) | (uint32_t(h[3]) << 16));
}

// ---- GEMV ------------------------------------------------------------------------------------

template <bool BF16>
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint2 b) {
  if constexpr (BF16) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b.x), "r"(b.y));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b.x), "r"(b.y));
  }
}

// +-1 A fragment of tile `kt` (0..3) of a word: bit 1 -> +1, 0 -> -1 (sign bit of each half).
template <bool BF16, int KT>
__device__ __forceinline__ void signs(uint32_t w, uint32_t (&a)[4]) {
  constexpr uint32_t one = BF16 ? 0x3F803F80u : 0x3C003C00u;
#pragma unroll
  for (int ri = 0; ri < 4; ++ri) a[ri] = ((~w << (15 - (4 * KT + ri))) & 0x80008000u) | one;
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }

constexpr int kMaxSplits = 16;

template <int NT, bool BF16, bool MEANS>
__global__ void __launch_bounds__(kMaxSplits * 32) gemv_kernel(BinaryView v, const uint2* __restrict__ bfrag,
                                                               const float* __restrict__ xcls, int64_t n,
                                                               const void* bias, void* y, int32_t splits) {
  const int32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t rt = blockIdx.x;
  const int32_t g = lane >> 2, tq = lane & 3;
  const int32_t elem = BF16 ? kBF16 : kF16;
  const int64_t per = (v.nblocks + splits - 1) / splits;
  const int64_t b0 = warp * per < v.nblocks ? warp * per : v.nblocks;
  const int64_t b1 = b0 + per < v.nblocks ? b0 + per : v.nblocks;
  float yacc[NT][2];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) yacc[nt][0] = yacc[nt][1] = 0.f;
  if (b0 < b1) {
    const int64_t t0 = v.block_tile_begin[b0], t1 = v.block_tile_begin[b1];
    const uint4* S = reinterpret_cast<const uint4*>(v.s) + rt * v.words4 * 32 + lane;
    const uint4* H = reinterpret_cast<const uint4*>(v.h) + rt * v.words4 * 32 + lane;
    float as[2][NT][4], ag[2][NT][4], ah[NT][4];
    auto clear = [&] {
#pragma unroll
      for (int p = 0; p < 2; ++p)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int i = 0; i < 4; ++i) as[p][nt][i] = ag[p][nt][i] = 0.f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) ah[nt][i] = 0.f;
    };
    clear();
    // The block's contribution to this thread's rows/columns of y (see epilogue_roles).
    auto epilogue = [&](int64_t b) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const int64_t batch = int64_t(nt) * 2 + (tq >> 1);
#pragma unroll
        for (int rh = 0; rh < 2; ++rh) {
          const int64_t r = rt * 16 + g + 8 * rh;
          if (r >= v.rows || batch >= n) continue;
          float val = 0.f;
#pragma unroll
          for (int qi = 0; qi < 2; ++qi) {
            const int32_t q = ((2 * tq) & 3) + qi, i = 2 * rh + qi;
#pragma unroll
            for (int p = 0; p < 2; ++p) {
              const Roles o = epilogue_roles(v, b, r, p, q);
              float X = 0.f, Hs = 0.f;
              if (MEANS && p == 0 && q >= 2) {
                X = xcls[(b * 2 + (q - 2)) * n + batch];
                Hs = ah[nt][i];
              }
              val += epilogue_value(o, as[p][nt][i], ag[p][nt][i], X, Hs);
            }
          }
          yacc[nt][rh] += val;
        }
      }
      clear();
    };
    for (int64_t c = t0 >> 4; c <= (t1 - 1) >> 4; ++c) {
      const uint4 sw = S[c * 32], hw = H[c * 32];
#pragma unroll 1
      for (int i = 0; i < 16; ++i) {
        const int64_t t = c * 16 + i;
        if (t < t0 || t >= t1) continue;
        const uint32_t s = word_of(sw, i >> 2), h = word_of(hw, i >> 2), sg = ~(s ^ h);
        uint32_t A[4], G[4], Hf[4];
        switch (i & 3) {
          case 0: signs<BF16, 0>(s, A), signs<BF16, 0>(sg, G); if (MEANS) signs<BF16, 0>(h, Hf); break;
          case 1: signs<BF16, 1>(s, A), signs<BF16, 1>(sg, G); if (MEANS) signs<BF16, 1>(h, Hf); break;
          case 2: signs<BF16, 2>(s, A), signs<BF16, 2>(sg, G); if (MEANS) signs<BF16, 2>(h, Hf); break;
          default: signs<BF16, 3>(s, A), signs<BF16, 3>(sg, G); if (MEANS) signs<BF16, 3>(h, Hf); break;
        }
        const int32_t info = __ldg(v.tile_info + t);
        const uint2* B = bfrag + t * NT * 32 + lane;
        if (tile_plane(info) == 0) {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            const uint2 bb = B[nt * 32];
            mma<BF16>(as[0][nt], A, bb);
            mma<BF16>(ag[0][nt], G, bb);
            if (MEANS) mma<BF16>(ah[nt], Hf, bb);
          }
        } else {
#pragma unroll
          for (int nt = 0; nt < NT; ++nt) {
            const uint2 bb = B[nt * 32];
            mma<BF16>(as[1][nt], A, bb);
            mma<BF16>(ag[1][nt], G, bb);
          }
        }
        if (tile_last(info)) epilogue(tile_block(info));
      }
    }
  }
  // Each (row, batch) is split over the lane pair (tq, tq ^ 1) (two q columns each) and over the
  // warps (blocks of columns): sum both, the warps in a fixed order (deterministic).
  __shared__ float red[kMaxSplits][16][2 * NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int rh = 0; rh < 2; ++rh) {
      const float other = __shfl_xor_sync(0xffffffffu, yacc[nt][rh], 1);
      if ((tq & 1) == 0) red[warp][g + 8 * rh][nt * 2 + (tq >> 1)] = yacc[nt][rh] + other;
    }
  __syncthreads();
  for (int idx = threadIdx.x; idx < 16 * 2 * NT; idx += blockDim.x) {
    const int rr = idx % 16, batch = idx / 16;
    const int64_t r = rt * 16 + rr;
    if (r >= v.rows || batch >= n) continue;
    float sum = 0.f;
    for (int w = 0; w < splits; ++w) sum += red[w][rr][batch];
    if (bias) sum += load_elem(bias, r, elem);
    store_elem(y, int64_t(batch) * v.rows + r, sum, elem);
  }
}

template <int NT, bool BF16>
void launch_gemv(const BinaryView& v, const uint2* bfrag, const float* xcls, int64_t n, const void* bias, void* y,
                 cudaStream_t stream) {
  const int64_t mt = (v.rows + 15) / 16;
  const int32_t splits = int32_t(std::max<int64_t>(1, std::min<int64_t>({kMaxSplits, v.nblocks, (2048 + mt - 1) / mt})));
  const dim3 grid{unsigned(mt)}, block{unsigned(32 * splits)};
  if (v.table.formula == kRc)
    gemv_kernel<NT, BF16, false><<<grid, block, 0, stream>>>(v, bfrag, xcls, n, bias, y, splits);
  else
    gemv_kernel<NT, BF16, true><<<grid, block, 0, stream>>>(v, bfrag, xcls, n, bias, y, splits);
}

template <bool BF16>
void launch_gemv_nt(const BinaryView& v, const uint2* bfrag, const float* xcls, int64_t n, const void* bias, void* y,
                    cudaStream_t stream) {
  switch ((n + 1) / 2) {
    case 1: launch_gemv<1, BF16>(v, bfrag, xcls, n, bias, y, stream); break;
    case 2: launch_gemv<2, BF16>(v, bfrag, xcls, n, bias, y, stream); break;
    case 3: launch_gemv<3, BF16>(v, bfrag, xcls, n, bias, y, stream); break;
    default: launch_gemv<4, BF16>(v, bfrag, xcls, n, bias, y, stream); break;
  }
}

// ---- dense -----------------------------------------------------------------------------------

// One thread per weight, a warp along 32 consecutive columns of a row (coalesced writes).
__global__ void dense_kernel(BinaryView v, int32_t round_elem, int32_t out_elem, void* out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= v.rows * v.cols) return;
  const int64_t r = idx / v.cols, c = idx - r * v.cols;
  store_elem(out, idx, round_through(dequant_binary(v, r, c, 0), round_elem), out_elem);
}

__global__ void dense_fix_kernel(BinaryView v, int32_t round_elem, int32_t out_elem, void* out, const int64_t* rc,
                                 const int32_t* mask, int64_t nfix) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= nfix) return;
  const int64_t r = rc[2 * i], c = rc[2 * i + 1];
  store_elem(out, r * v.cols + c, round_through(dequant_binary(v, r, c, mask[i]), round_elem), out_elem);
}

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

}  // namespace

void binary_prep(const BinaryView& v, int64_t tiles, const void* x, int32_t elem, int64_t n, void* bfrag,
                 cudaStream_t stream) {
  const int32_t nt = int32_t((n + 1) / 2);
  const int64_t total = tiles * nt * 32;
  prep_kernel<<<blocks_for(total, 256), 256, 0, stream>>>(v, tiles, x, elem, n, nt, static_cast<uint2*>(bfrag));
}

void binary_gemv(const BinaryView& v, const void* bfrag, const float* xcls, int64_t n, int32_t elem, const void* bias,
                 void* y, cudaStream_t stream) {
  const uint2* b = static_cast<const uint2*>(bfrag);
  if (elem == kBF16) launch_gemv_nt<true>(v, b, xcls, n, bias, y, stream);
  else launch_gemv_nt<false>(v, b, xcls, n, bias, y, stream);
}

void binary_dense(const BinaryView& v, int32_t round_elem, int32_t out_elem, void* out, const int64_t* fix_rc,
                  const int32_t* fix_mask, int64_t nfix, cudaStream_t stream) {
  dense_kernel<<<blocks_for(v.rows * v.cols, 256), 256, 0, stream>>>(v, round_elem, out_elem, out);
  if (nfix > 0)
    dense_fix_kernel<<<blocks_for(nfix, 128), 128, 0, stream>>>(v, round_elem, out_elem, out, fix_rc, fix_mask, nfix);
}

const char* last_error() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace ob1q::kernels::cu
