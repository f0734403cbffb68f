// CUDA kernels of the binary-blocks layout (see binary_tiles.hpp for the tile stream and the
// decomposition). Decode: binary_gemv builds the B operands (scaled activations, 4 "q columns"
// per batch row) in shared memory, streams the weight bits once and multiplies +-1 tiles built
// from them on the tensor cores. Prefill: binary_dense writes the exact weight, tile by tile.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "elem.cuh"

namespace ob1q::kernels::cu {

namespace {

// ---- B operands ------------------------------------------------------------------------------

// The four halves lane `lane` holds of B for tile t, n-tile nt (mma.m16n8k16 B layout: rows
// 2q, 2q+1, 2q+8, 2q+9 of column g), as packed f16x2/bf16x2 words.
__device__ __forceinline__ uint2 b_fragment(const BinaryView& v, int64_t t, int32_t nt, int32_t lane, const void* x,
                                            int32_t elem, int64_t n) {
  const int32_t g = lane >> 2, tq = lane & 3, q = g & 3;
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
  return make_uint2(uint32_t(h[0]) | (uint32_t(h[1]) << 16), uint32_t(h[2]) | (uint32_t(h[3]) << 16));
}

// ---- GEMV ------------------------------------------------------------------------------------
//
// Grid (row-tile groups, K splits): a CTA of kWarps warps takes kWarps row tiles (one each) over
// one range of column blocks. It first builds, in shared memory, the B operands of its tiles
// (and, for mean formulas, the class sums of x per block), then each warp streams its row tile's
// bits once -- the next 16-tile chunk of words is always in flight -- and multiplies on the
// tensor cores. Partial sums per K split go to `part`; the last CTA of a row group to finish (an
// atomic ticket per row group, which that CTA resets) adds them in split order -- deterministic --
// with the bias: one launch per GEMV.

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

// +-1 A fragment of tile kt (0..3) of a word: bit 1 -> +1, 0 -> -1 (sign bit of each half).
template <bool BF16>
__device__ __forceinline__ void signs(uint32_t w, int kt, uint32_t (&a)[4]) {
  constexpr uint32_t one = BF16 ? 0x3F803F80u : 0x3C003C00u;
  const uint32_t nw = ~w;
#pragma unroll
  for (int ri = 0; ri < 4; ++ri) a[ri] = ((nw << (15 - (4 * kt + ri))) & 0x80008000u) | one;
}

__device__ __forceinline__ uint32_t word_of(const uint4& v, int k) { return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w; }

constexpr int kWarps = kGemvWarps;

struct GemvArgs {
  BinaryView v;
  const void* x;
  int32_t elem;
  int64_t n;
  float* part;  // [splits][n][rows]
  int64_t blocks_per_split;
  int32_t* tickets;  // [row groups], zero between launches
  const void* bias;
  void* y;  // [n][rows]
};

// One warp: row tile rt over blocks [b0, b1) (B operands and class sums in shared memory);
// writes its rows' partial sums of split `split`.
template <int NT, bool BF16, bool MEANS>
__device__ __forceinline__ void warp_gemv(const GemvArgs& p, const uint2* Bs, const float* xcls, int64_t rt, int64_t b0,
                                          int64_t b1, int64_t T0, int64_t T1, int32_t lane, int64_t split) {
  const BinaryView& v = p.v;
  const int64_t n = p.n;
  const int32_t g = lane >> 2, tq = lane & 3;
  const uint4* S = reinterpret_cast<const uint4*>(v.s) + rt * v.words4 * 32 + lane;
  const uint4* H = reinterpret_cast<const uint4*>(v.h) + rt * v.words4 * 32 + lane;
  float yacc[NT][2];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) yacc[nt][0] = yacc[nt][1] = 0.f;
  int64_t chunk = T0 >> 4;
  uint4 sw = S[chunk * 32], hw = H[chunk * 32];
  uint4 nsw = sw, nhw = hw;
  if (((T1 - 1) >> 4) > chunk) nsw = S[(chunk + 1) * 32], nhw = H[(chunk + 1) * 32];
  int64_t t = T0;
  const int64_t esize = v.scale_type == kScaleF32 ? 4 : 2;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t te = v.block_tile_begin[b + 1];
    // This block's row scales and means of this lane's rows: prefetched into L1 now, read by the
    // epilogue after the products (a load here would stall the warp for the whole latency).
#pragma unroll
    for (int rh = 0; rh < 2; ++rh) {
      const int64_t r = rt * 16 + g + 8 * rh;
      if (r >= v.rows) continue;
      for (int slot = 0; slot < v.slots; ++slot)
        asm volatile("prefetch.global.L1 [%0];" ::"l"(static_cast<const char*>(v.row_scale) + ((b * v.slots + slot) * v.rows + r) * esize));
      for (int slot = 0; slot < v.mean_slots; ++slot)
        asm volatile("prefetch.global.L1 [%0];" ::"l"(static_cast<const char*>(v.mean) + ((b * v.mean_slots + slot) * v.rows + r) * esize));
    }
    float as[2][NT][4], ag[2][NT][4], ah[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) as[0][nt][i] = as[1][nt][i] = ag[0][nt][i] = ag[1][nt][i] = ah[nt][i] = 0.f;
    // Plane-0 tiles first (all the block's columns), then plane-1 tiles: no lookup per tile.
    const int64_t w = v.cols - b * v.blocksize < v.blocksize ? v.cols - b * v.blocksize : v.blocksize;
    const int64_t first_plane1 = v.block_tile_begin[b] + (w + 15) / 16;
    for (; t < te; ++t) {
      if ((t >> 4) != chunk) {  // next chunk: its words are already here; ask for the one after
        chunk = t >> 4;
        sw = nsw, hw = nhw;
        if (((T1 - 1) >> 4) > chunk) nsw = S[(chunk + 1) * 32], nhw = H[(chunk + 1) * 32];
      }
      const int k = int((t >> 2) & 3), kt = int(t & 3);
      const uint32_t s = word_of(sw, k), h = word_of(hw, k), sg = ~(s ^ h);
      uint32_t A[4], G[4], Hf[4];
      signs<BF16>(s, kt, A);
      signs<BF16>(sg, kt, G);
      if (MEANS) signs<BF16>(h, kt, Hf);
      const uint2* B = Bs + (t - T0) * NT * 32 + lane;
      const bool plane1 = t >= first_plane1;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const uint2 bb = B[nt * 32];
        if (!plane1) {
          mma<BF16>(as[0][nt], A, bb);
          mma<BF16>(ag[0][nt], G, bb);
          if (MEANS) mma<BF16>(ah[nt], Hf, bb);
        } else {
          mma<BF16>(as[1][nt], A, bb);
          mma<BF16>(ag[1][nt], G, bb);
        }
      }
    }
    // Epilogue of block b (see epilogue_roles): this lane's rows g, g + 8 and q columns.
    Roles roles[2][2][2];  // [plane][row half][q of this lane]
#pragma unroll
    for (int pl = 0; pl < 2; ++pl)
#pragma unroll
      for (int rh = 0; rh < 2; ++rh)
#pragma unroll
        for (int qi = 0; qi < 2; ++qi) {
          const int64_t r = rt * 16 + g + 8 * rh;
          roles[pl][rh][qi] = r < v.rows ? epilogue_roles(v, b, r, pl, ((2 * tq) & 3) + qi) : Roles{0.f, 0.f, 0.f, 0.f};
        }
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
      const int64_t batch = int64_t(nt) * 2 + (tq >> 1);
      if (batch >= n) continue;
#pragma unroll
      for (int rh = 0; rh < 2; ++rh)
#pragma unroll
        for (int qi = 0; qi < 2; ++qi) {
          const int q = ((2 * tq) & 3) + qi, i = 2 * rh + qi;
          float X = 0.f, Hs = 0.f;
          if (MEANS && q >= 2) X = xcls[((b - b0) * 2 + (q - 2)) * n + batch], Hs = ah[nt][i];
          yacc[nt][rh] += epilogue_value(roles[0][rh][qi], as[0][nt][i], ag[0][nt][i], X, Hs) +
                          epilogue_value(roles[1][rh][qi], as[1][nt][i], ag[1][nt][i], 0.f, 0.f);
        }
    }
  }
  // Each (row, batch) is split over the lane pair (tq, tq ^ 1): add the pair, write the partial.
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int rh = 0; rh < 2; ++rh) {
      const float sum = yacc[nt][rh] + __shfl_xor_sync(0xffffffffu, yacc[nt][rh], 1);
      const int64_t r = rt * 16 + g + 8 * rh, batch = int64_t(nt) * 2 + (tq >> 1);
      if ((tq & 1) == 0 && r < v.rows && batch < n) p.part[(split * n + batch) * v.rows + r] = sum;
    }
}

template <int NT, bool BF16, bool MEANS>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(GemvArgs p) {
  extern __shared__ uint2 smem[];
  const BinaryView& v = p.v;
  const int32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t split = blockIdx.y;
  const int64_t b0 = split * p.blocks_per_split;
  const int64_t b1 = b0 + p.blocks_per_split < v.nblocks ? b0 + p.blocks_per_split : v.nblocks;
  const int64_t T0 = v.block_tile_begin[b0], T1 = v.block_tile_begin[b1], nT = T1 - T0;
  const int64_t n = p.n;
  // Shared memory: B operands [nT][NT][32], then (means) class sums [b1 - b0][2][n].
  uint2* Bs = smem;
  float* xcls = reinterpret_cast<float*>(smem + nT * NT * 32);
#pragma unroll 4
  for (int64_t idx = threadIdx.x; idx < nT * NT * 32; idx += blockDim.x) {
    const int64_t t = idx / (NT * 32);
    Bs[idx] = b_fragment(v, T0 + t, int32_t((idx / 32) % NT), int32_t(idx & 31), p.x, p.elem, n);
  }
  if (MEANS) {
    // One warp per (block, batch row): sums of x over the block's salient and other columns.
    for (int64_t job = warp; job < (b1 - b0) * n; job += kWarps) {
      const int64_t b = b0 + job / n, batch = job % n, c0 = b * v.blocksize;
      const int64_t c1 = c0 + v.blocksize < v.cols ? c0 + v.blocksize : v.cols;
      float sal = 0.f, non = 0.f;
      for (int64_t c = c0 + lane; c < c1; c += 32) {
        const float xv = load_elem(p.x, batch * v.cols + c, p.elem);
        if (v.col_flags[c] & kColSalient) sal += xv;
        else non += xv;
      }
      for (int o = 16; o > 0; o >>= 1) {
        sal += __shfl_xor_sync(0xffffffffu, sal, o);
        non += __shfl_xor_sync(0xffffffffu, non, o);
      }
      if (lane == 0) xcls[((b - b0) * 2 + 0) * n + batch] = sal, xcls[((b - b0) * 2 + 1) * n + batch] = non;
    }
  }
  __syncthreads();
  const int64_t rt = int64_t(blockIdx.x) * kWarps + warp;
  if (rt * 16 < v.rows) warp_gemv<NT, BF16, MEANS>(p, Bs, xcls, rt, b0, b1, T0, T1, lane, split);
  // The last CTA of this row group to finish sums the splits' partials in split order.
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(p.tickets + blockIdx.x, 1) == int(gridDim.y) - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  const int64_t r0 = int64_t(blockIdx.x) * kWarps * 16;
  const int64_t rows = v.rows - r0 < kWarps * 16 ? v.rows - r0 : kWarps * 16;
  for (int64_t idx = threadIdx.x; idx < rows * n; idx += blockDim.x) {
    const int64_t batch = idx / rows, r = r0 + idx % rows;
    float sum = 0.f;
    for (int64_t sp = 0; sp < int64_t(gridDim.y); ++sp) sum += __ldcg(p.part + (sp * n + batch) * v.rows + r);
    if (p.bias) sum += load_elem(p.bias, r, p.elem);
    store_elem(p.y, batch * v.rows + r, sum, p.elem);
  }
  if (threadIdx.x == 0) p.tickets[blockIdx.x] = 0;
}

unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

template <int NT, bool BF16, bool MEANS>
void launch_gemv(const GemvArgs& a, dim3 grid, size_t smem, cudaStream_t stream) {
  auto k = gemv_kernel<NT, BF16, MEANS>;
  if (smem > 48 * 1024) cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
  k<<<grid, kWarps * 32, smem, stream>>>(a);
}

template <bool BF16, bool MEANS>
void launch_gemv_nt(const GemvArgs& a, dim3 grid, size_t smem, cudaStream_t stream) {
  switch ((a.n + 1) / 2) {
    case 1: launch_gemv<1, BF16, MEANS>(a, grid, smem, stream); break;
    case 2: launch_gemv<2, BF16, MEANS>(a, grid, smem, stream); break;
    case 3: launch_gemv<3, BF16, MEANS>(a, grid, smem, stream); break;
    default: launch_gemv<4, BF16, MEANS>(a, grid, smem, stream); break;
  }
}

// ---- dense -----------------------------------------------------------------------------------

// One CTA per (row tile, column block): each thread decodes the 8 weights one lane holds of one
// plane-0 tile, straight from its word (scales staged in shared memory), into a shared tile
// that is then written out row by row (coalesced).
__global__ void dense_tile_kernel(BinaryView v, int32_t round_to, int32_t out_elem, void* out) {
  extern __shared__ float fsm[];
  const int64_t rt = blockIdx.x, b = blockIdx.y, bs = v.blocksize;
  const int64_t c0 = b * bs, w = c0 + bs < v.cols ? bs : v.cols - c0;
  float* tile = fsm;                     // [16][bs]
  float* as = tile + 16 * bs;            // [slots][16]
  float* cs = as + v.slots * 16;         // [slots][bs]
  float* ms = cs + v.slots * bs;         // [mean_slots][16]
  for (int64_t i = threadIdx.x; i < v.slots * 16; i += blockDim.x) {
    const int64_t slot = i / 16, r = rt * 16 + i % 16;
    as[i] = r < v.rows ? load_scale(v.row_scale, (b * v.slots + slot) * v.rows + r, v.scale_type) : 0.f;
  }
  if (v.col_scale)
    for (int64_t i = threadIdx.x; i < v.slots * bs; i += blockDim.x)
      cs[i] = i % bs < w ? load_scale(v.col_scale, (b * v.slots + i / bs) * bs + i % bs, v.scale_type) : 0.f;
  if (v.mean)
    for (int64_t i = threadIdx.x; i < v.mean_slots * 16; i += blockDim.x) {
      const int64_t r = rt * 16 + i % 16;
      ms[i] = r < v.rows ? load_scale(v.mean, (b * v.mean_slots + i / 16) * v.rows + r, v.scale_type) : 0.f;
    }
  __syncthreads();
  const int64_t tb = v.block_tile_begin[b], n0 = (w + 15) / 16;
  for (int64_t item = threadIdx.x; item < n0 * 32; item += blockDim.x) {
    const int64_t t = tb + item / 32;
    const int32_t lane = int32_t(item & 31), g = lane >> 2, tq = lane & 3, kt = int32_t(t & 3);
    const int64_t widx = ((rt * v.words4 + (t >> 4)) * 32 + lane) * 4 + ((t >> 2) & 3);
    const uint32_t sw = v.s[widx], hw = v.h[widx];
#pragma unroll
    for (int ri = 0; ri < 4; ++ri)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int bit = 16 * half + 4 * kt + ri;
        const int32_t rr = g + 8 * (ri & 1), col = int32_t((item / 32) * 16) + 2 * tq + half + 8 * (ri >> 1);
        if (col >= w) continue;
        const int64_t c = c0 + col;
        const int8_t flags = v.col_flags[c];
        const int sal = flags & kColSalient, zero = flags & kColZero;
        const int hi = (hw >> bit) & 1u;
        const float s0 = zero ? 0.f : (((sw >> bit) & 1u) ? 1.f : -1.f);
        float s1 = 0.f;
        if (!zero && v.table.slot[sal][hi][1] >= 0) {
          const int32_t pos = v.p1_pos[c];
          s1 = bit_at(v.s, bit_addr(v, rt * 16 + rr, pos >> 4, pos & 15)) ? 1.f : -1.f;
        }
        const float val = dequant_value(
            v.table, sal, hi, s0, s1, [&](int slot) { return as[slot * 16 + rr]; },
            [&](int slot) { return cs[slot * bs + col]; }, [&](int slot) { return ms[slot * 16 + rr]; });
        tile[rr * bs + col] = round_elem(val, round_to);
      }
  }
  __syncthreads();
  for (int64_t e = threadIdx.x; e < 16 * w; e += blockDim.x) {
    const int64_t rr = e / w, col = e % w, r = rt * 16 + rr;
    if (r < v.rows) store_elem(out, r * v.cols + c0 + col, tile[rr * bs + col], out_elem);
  }
}

// One thread per weight (blocks too wide for the tiled kernel's shared memory).
__global__ void dense_kernel(BinaryView v, int32_t round_to, int32_t out_elem, void* out) {
  const int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= v.rows * v.cols) return;
  const int64_t r = idx / v.cols, c = idx - r * v.cols;
  store_elem(out, idx, round_elem(dequant_binary(v, r, c, 0), round_to), out_elem);
}

__global__ void dense_fix_kernel(BinaryView v, int32_t round_to, int32_t out_elem, void* out, const int64_t* rc,
                                 const int32_t* mask, int64_t nfix) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= nfix) return;
  const int64_t r = rc[2 * i], c = rc[2 * i + 1];
  store_elem(out, r * v.cols + c, round_elem(dequant_binary(v, r, c, mask[i]), round_to), out_elem);
}

}  // namespace

void binary_gemv(const BinaryView& v, const GemvPlan& plan, const void* x, int32_t elem, int64_t n, const void* bias,
                 float* part, int32_t* tickets, void* y, cudaStream_t stream) {
  const int64_t nt = (n + 1) / 2;
  const size_t smem = size_t(plan.max_tiles * nt * 32) * sizeof(uint2) + size_t(plan.per * 2 * n) * sizeof(float);
  GemvArgs a{v, x, elem, n, part, plan.per, tickets, bias, y};
  const dim3 grid{unsigned(plan.row_groups), unsigned(plan.splits)};
  const bool bf16 = elem == kBF16, means = v.table.formula != kRc;
  if (bf16) {
    if (means) launch_gemv_nt<true, true>(a, grid, smem, stream);
    else launch_gemv_nt<true, false>(a, grid, smem, stream);
  } else {
    if (means) launch_gemv_nt<false, true>(a, grid, smem, stream);
    else launch_gemv_nt<false, false>(a, grid, smem, stream);
  }
}

void binary_dense(const BinaryView& v, int32_t round_to, int32_t out_elem, void* out, const int64_t* fix_rc,
                  const int32_t* fix_mask, int64_t nfix, cudaStream_t stream) {
  const size_t smem = size_t(16 * v.blocksize + v.slots * 16 + v.slots * v.blocksize + v.mean_slots * 16) * sizeof(float);
  if (smem <= 96 * 1024) {
    if (smem > 48 * 1024)
      cudaFuncSetAttribute(dense_tile_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    const dim3 grid{unsigned((v.rows + 15) / 16), unsigned(v.nblocks)};
    dense_tile_kernel<<<grid, 256, smem, stream>>>(v, round_to, out_elem, out);
  } else {
    dense_kernel<<<blocks_for(v.rows * v.cols, 256), 256, 0, stream>>>(v, round_to, out_elem, out);
  }
  if (nfix > 0)
    dense_fix_kernel<<<blocks_for(nfix, 128), 128, 0, stream>>>(v, round_to, out_elem, out, fix_rc, fix_mask, nfix);
}

const char* last_error() {
  const cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? nullptr : cudaGetErrorString(e);
}

}  // namespace ob1q::kernels::cu
