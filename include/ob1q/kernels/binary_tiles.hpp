// The resident ("tile stream") form of a binary-blocks linear and the arithmetic every packed op
// shares, written once for the host (the CPU reference ops, the layout tests) and the device
// (src/kernels/cuda/*.cu). Plain C++, no LibTorch: the CUDA units include it without ATen.
//
// Tile stream. Each block of `blocksize` input columns contributes, in order, its plane-0 tiles
// (all its columns, 16 per tile, the last padded) and its plane-1 tiles (its salient columns in
// ascending order, 16 per tile, padded): the second sign plane exists only on salient columns,
// so it is stored compactly, as the checkpoint stores it. A tile is a 16 x 16 piece of the
// weight, and its bits are kept in the register order of the A operand of the tensor-core
// instruction mma.m16n8k16 (row-major A): lane l = 4g + q holds rows g and g + 8, columns 2q,
// 2q + 1, 2q + 8, 2q + 9 in four registers ri (row half = ri & 1, column half = ri >> 1), two
// 16-bit halves each (lower column first). One 32-bit word per lane covers four consecutive
// tiles: bit 16*half + 4*(tile % 4) + ri, so that shifting left by 15 - (4*(tile % 4) + ri)
// moves both halves of a register to the sign bits of an f16x2/bf16x2 pair. Words are stored as
// [row tile][word / 4][lane][word % 4] so that a warp reads 512 contiguous bytes per 16-byte load.
//
// Two such streams: `s` (sign bit; 1 = +1, 0 = -1) and `h` (the per-weight group bit "hi"; on
// plane-1 tiles the hi bit of the same weight again). Bit counts per weight: 2 for plane 0 plus
// 2 x (padded salient columns / columns) for plane 1 -- within 0.2 bit of the checkpoint.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define OB1Q_HD __host__ __device__ __forceinline__
#else
#define OB1Q_HD inline
#endif

namespace ob1q::kernels {

enum BinFormula : int32_t { kRc = 0, kArb = 1, kBraq = 2 };
enum ScaleType : int32_t { kScaleF16 = 0, kScaleBF16 = 1, kScaleF32 = 2 };

// A group layout reduced to what the arithmetic needs: for a weight whose column is (not)
// salient and whose hi bit is h, the scale slot of each plane (-1: the group has no such plane,
// or no group takes the weight) and the mean slots added (arb: [0] only; braq: one per plane).
struct BinaryTable {
  int32_t formula = kRc;
  int8_t slot[2][2][2];  // [salient][hi][plane]
  int8_t mean[2][2][2];  // [salient][hi][k]
};

// Per-column flags of the resident form.
constexpr int8_t kColSalient = 1, kColZero = 2;

// Pointers into the resident tensors of one binary-blocks linear (host or device memory).
struct BinaryView {
  int64_t rows = 0, cols = 0, blocksize = 0, nblocks = 0;
  int64_t words4 = 0;             // 16-byte word groups per row tile (words / 4)
  const uint32_t* s = nullptr;    // [ceil(rows/16)][words4][32][4]
  const uint32_t* h = nullptr;
  const int32_t* block_tile_begin = nullptr;  // [nblocks + 1]: first tile of each block
  const int32_t* tile_info = nullptr;  // [tiles]: block | plane << 24 | last-of-block << 25
  const int32_t* tile_col = nullptr;   // [tiles][16]: the column of each tile row, -1 = padding
  const int32_t* p1_pos = nullptr;     // [cols]: 16 * plane-1 tile + position, -1 if not salient
  const int8_t* col_flags = nullptr;   // [cols]: kColSalient | kColZero
  const void* row_scale = nullptr;     // [nblocks][S][rows]
  const void* col_scale = nullptr;     // [nblocks][S][blocksize] (rc)
  const void* mean = nullptr;          // [nblocks][Sm][rows] (arb, braq)
  int32_t scale_type = kScaleF16;
  int32_t slots = 0, mean_slots = 0;
  BinaryTable table;
};

OB1Q_HD int32_t tile_block(int32_t info) { return info & 0xFFFFFF; }
OB1Q_HD int32_t tile_plane(int32_t info) { return (info >> 24) & 1; }
OB1Q_HD bool tile_last(int32_t info) { return (info >> 25) & 1; }

// ---- exact scalar conversions (identical on host and device, no library calls) ----------------

OB1Q_HD float bits_to_float(uint32_t u) {
  union {
    uint32_t u;
    float f;
  } v{u};
  return v.f;
}
OB1Q_HD uint32_t float_to_bits(float f) {
  union {
    float f;
    uint32_t u;
  } v{f};
  return v.u;
}

OB1Q_HD float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  if (exp == 0x1F) return bits_to_float(sign | 0x7F800000u | (man << 13));  // inf / nan
  if (exp == 0) {
    if (man == 0) return bits_to_float(sign);
    // subnormal: normalise
    int e = -1;
    do {
      man <<= 1;
      ++e;
    } while ((man & 0x400) == 0);
    return bits_to_float(sign | (uint32_t(127 - 15 - e) << 23) | ((man & 0x3FF) << 13));
  }
  return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
}

OB1Q_HD float bf16_to_float(uint16_t b) { return bits_to_float(uint32_t(b) << 16); }

// Round to nearest even, as c10::Half / IEEE conversion does (overflow -> inf, NaN kept).
OB1Q_HD uint16_t float_to_half_rne(float f) {
  const uint32_t x = float_to_bits(f);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7FFFFFFF;
  if (ax >= 0x7F800000u) return uint16_t(sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 : 0));
  if (ax >= 0x477FF000u) return uint16_t(sign | 0x7C00);  // rounds to >= 65520: inf
  if (ax < 0x38800000u) {                                   // below 2^-14: subnormal half
    if (ax < 0x33000000u) return sign;                      // below 2^-25: rounds to 0
    const uint32_t e = ax >> 23, man = (ax & 0x7FFFFF) | 0x800000;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t r = man >> shift;
    const uint32_t rem = man & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1))) ++r;
    return uint16_t(sign | r);
  }
  uint32_t r = ((ax - 0x38000000u) >> 13);  // rebias exponent, drop 13 bits
  const uint32_t rem = ax & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) ++r;
  return uint16_t(sign | r);
}

OB1Q_HD uint16_t float_to_bf16_rne(float f) {
  const uint32_t x = float_to_bits(f);
  if ((x & 0x7FFFFFFF) > 0x7F800000u) return 0x7FC0;  // NaN, as c10::BFloat16
  return uint16_t((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}

// fp32 arithmetic that is never contracted into an FMA: the dequantization must reproduce the
// quantizer's rounding exactly (docs/format.md evaluates each formula left to right).
#ifdef __CUDA_ARCH__
OB1Q_HD float mul_rn(float a, float b) { return __fmul_rn(a, b); }
OB1Q_HD float add_rn(float a, float b) { return __fadd_rn(a, b); }
#else
// Host units that use these are compiled with -ffp-contract=off (CMakeLists.txt).
OB1Q_HD float mul_rn(float a, float b) { return a * b; }
OB1Q_HD float add_rn(float a, float b) { return a + b; }
#endif

OB1Q_HD float load_scale(const void* p, int64_t i, int32_t type) {
  switch (type) {
    case kScaleF16: return half_to_float(static_cast<const uint16_t*>(p)[i]);
    case kScaleBF16: return bf16_to_float(static_cast<const uint16_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

// ---- the tile stream ---------------------------------------------------------------------------

// Where bit (row r, tile t, tile column kk) lives: word index into s/h and bit position.
struct BitAddr {
  int64_t word;
  int32_t bit;
};
OB1Q_HD BitAddr bit_addr(const BinaryView& v, int64_t r, int64_t t, int32_t kk) {
  const int64_t rt = r >> 4;
  const int32_t rr = int32_t(r & 15);
  const int32_t lane = 4 * (rr & 7) + ((kk & 7) >> 1);
  const int32_t ri = (rr >> 3) + 2 * (kk >> 3);
  const int64_t w = t >> 2;
  const int32_t bit = 16 * (kk & 1) + 4 * int32_t(t & 3) + ri;
  return {((rt * v.words4 + (w >> 2)) * 32 + lane) * 4 + (w & 3), bit};
}
// The inverse, used to build the stream: for lane l and bit p of the word holding tiles
// 4w..4w+3, the row within the row tile, the tile offset (0..3) and the tile column.
OB1Q_HD void bit_source(int32_t lane, int32_t p, int32_t* row_in_tile, int32_t* tile_off, int32_t* kk) {
  const int32_t half = p >> 4, kt = (p >> 2) & 3, ri = p & 3, g = lane >> 2, q = lane & 3;
  *row_in_tile = g + 8 * (ri & 1);
  *tile_off = kt;
  *kk = 2 * q + half + 8 * (ri >> 1);
}

OB1Q_HD int bit_at(const uint32_t* words, BitAddr a) { return int((words[a.word] >> a.bit) & 1u); }

// ---- exact dequantization of one weight (docs/format.md) ----------------------------------------

// The exact value of a weight of column class `sal` and hi bit `hi` with signs s0, s1 (+-1 or
// 0): a(slot), c(slot) and mu(slot) give its row scale, column scale and mean. Every path that
// dequantizes (CPU reference, CUDA kernels) goes through this one function.
template <class A, class C, class M>
OB1Q_HD float dequant_value(const BinaryTable& t, int sal, int hi, float s0, float s1, A&& a, C&& c, M&& mu) {
  const int slot0 = t.slot[sal][hi][0], slot1 = t.slot[sal][hi][1];
  if (slot0 < 0) return 0.f;
  float part;
  switch (t.formula) {
    case kRc:
      part = mul_rn(mul_rn(a(slot0), c(slot0)), s0);
      if (slot1 >= 0) part = add_rn(part, mul_rn(mul_rn(a(slot1), c(slot1)), s1));
      return part;
    case kArb:
      part = mul_rn(a(slot0), s0);
      if (slot1 >= 0) part = add_rn(part, mul_rn(a(slot1), s1));
      return add_rn(part, mu(t.mean[sal][hi][0]));
    default:  // braq
      part = add_rn(mul_rn(a(slot0), s0), mu(t.mean[sal][hi][0]));
      if (slot1 >= 0) part = add_rn(part, add_rn(mul_rn(a(slot1), s1), mu(t.mean[sal][hi][1])));
      return part;
  }
}

// `zero_planes`: bit p set = the sign of plane p is 0 (sign_zero entries; zero columns are read
// from the column flags). Returns the fp32 value before rounding to the checkpoint dtype.
OB1Q_HD float dequant_binary(const BinaryView& v, int64_t r, int64_t c, int32_t zero_planes) {
  const int64_t b = c / v.blocksize, j = c - b * v.blocksize;
  const int8_t flags = v.col_flags[c];
  const int sal = flags & kColSalient;
  if (flags & kColZero) zero_planes = 3;
  const BitAddr a0 = bit_addr(v, r, v.block_tile_begin[b] + (j >> 4), int32_t(j & 15));
  const int hi = bit_at(v.h, a0);
  const float s0 = (zero_planes & 1) ? 0.f : (bit_at(v.s, a0) ? 1.f : -1.f);
  float s1 = 0.f;
  if (v.table.slot[sal][hi][1] >= 0 && !(zero_planes & 2)) {
    const int32_t pos = v.p1_pos[c];
    s1 = bit_at(v.s, bit_addr(v, r, pos >> 4, pos & 15)) ? 1.f : -1.f;
  }
  return dequant_value(
      v.table, sal, hi, s0, s1,
      [&](int slot) { return load_scale(v.row_scale, (b * v.slots + slot) * v.rows + r, v.scale_type); },
      [&](int slot) { return load_scale(v.col_scale, (b * v.slots + slot) * v.blocksize + j, v.scale_type); },
      [&](int slot) { return load_scale(v.mean, (b * v.mean_slots + slot) * v.rows + r, v.scale_type); });
}

// ---- how the CUDA GEMV divides the work (host side; see cuda/binary_blocks.cu) ----------------

// A CTA takes kGemvWarps row tiles (a warp each) over `per` column blocks; the grid is
// row_groups x splits. max_tiles: the most tiles any split has (its B operands live in shared
// memory).
constexpr int64_t kGemvWarps = 8;
struct GemvPlan {
  int64_t row_groups = 0, per = 0, splits = 0, max_tiles = 0;
};
inline GemvPlan plan_gemv(int64_t rows, int64_t nblocks, const int32_t* block_tile_begin, int64_t sms) {
  GemvPlan p;
  const int64_t mt = (rows + 15) / 16;
  p.row_groups = (mt + kGemvWarps - 1) / kGemvWarps;
  // Enough CTAs to fill the GPU about twice, with at least two blocks per split.
  const int64_t want = (2 * sms + p.row_groups - 1) / p.row_groups;
  p.per = (nblocks + (want > 0 ? want : 1) - 1) / (want > 0 ? want : 1);
  if (p.per < 2) p.per = nblocks < 2 ? nblocks : 2;
  p.splits = (nblocks + p.per - 1) / p.per;
  for (int64_t s = 0; s < p.splits; ++s) {
    const int64_t b0 = s * p.per, b1 = b0 + p.per < nblocks ? b0 + p.per : nblocks;
    const int64_t tiles = block_tile_begin[b1] - block_tile_begin[b0];
    if (tiles > p.max_tiles) p.max_tiles = tiles;
  }
  return p;
}

// ---- the tensor-core decomposition of y = x W^T ------------------------------------------------
//
// With s = +-1 the sign, h the hi bit and sigma = s where h = 1, -s where h = 0 (the XNOR of
// their bits), the sums over the two hi-groups of a column class follow from two signed sums:
//   sum_{h=1} s v = (S + Sigma) / 2,   sum_{h=0} s v = (S - Sigma) / 2,
// with S = sum s v and Sigma = sum sigma v; likewise sum_{h=1} v = (X + H) / 2 with
// H = sum (2h - 1) v and X = sum v. So each weight tile needs only +-1 matrices built from bits
// (one shift and one logic op per register), multiplied on the tensor cores against four
// activation vectors per batch row ("q columns"):
//   rc:        q0 = c_(sal,hi) x [sal], q1 = c_(sal,lo) x [sal], q2 = c_(non,hi) x [non], q3 = c_(non,lo) x [non]
//   arb, braq: q0 = x [sal], q1 = x [non], q2 = x [sal] and q3 = x [non] including zero columns (means)
// where c_(...) is the column scale of the plane's slot, [sal]/[non] the column class, and zero
// columns are left out of q0..q1 (rc: of all four). Plane-1 tiles hold salient columns only.
// Each q column then enters the output with up to four per-row coefficients (epilogue roles):
//   alpha * (S + Sigma)/2 + beta * (S - Sigma)/2 + gamma * (X + H)/2 + delta * (X - H)/2.

// The activation coefficient of tile column `col` (a column index, or -1) for q column `q` on a
// tile of `plane` in block b: multiply by x[col] to get the B operand (0 when it does not apply).
OB1Q_HD float bvec_coef(const BinaryView& v, int64_t b, int32_t plane, int64_t col, int32_t q) {
  if (col < 0) return 0.f;
  const int8_t flags = v.col_flags[col];
  const int sal = flags & kColSalient, zero = (flags & kColZero) ? 1 : 0;
  if (v.table.formula == kRc) {
    if (zero) return 0.f;
    const int want_sal = q < 2 ? 1 : 0, hi = (q & 1) ? 0 : 1;
    if (sal != want_sal) return 0.f;
    const int slot = v.table.slot[sal][hi][plane];
    if (slot < 0) return 0.f;
    const int64_t j = col - b * v.blocksize;
    return load_scale(v.col_scale, (b * v.slots + slot) * v.blocksize + j, v.scale_type);
  }
  const int want_sal = (q & 1) ? 0 : 1;
  if (sal != want_sal) return 0.f;
  if (q < 2) return zero ? 0.f : 1.f;
  return plane == 0 ? 1.f : 0.f;  // means: counted once, on plane 0
}

// Per-row coefficients of q column `q` on `plane` of block b for row r.
struct Roles {
  float alpha, beta, gamma, delta;
};
OB1Q_HD Roles epilogue_roles(const BinaryView& v, int64_t b, int64_t r, int32_t plane, int32_t q) {
  Roles o{0.f, 0.f, 0.f, 0.f};
  auto a = [&](int slot) {
    return slot < 0 ? 0.f : load_scale(v.row_scale, (b * v.slots + slot) * v.rows + r, v.scale_type);
  };
  auto mu = [&](int8_t s0, int8_t s1) {
    float m = 0.f;
    if (s0 >= 0) m += load_scale(v.mean, (b * v.mean_slots + s0) * v.rows + r, v.scale_type);
    if (s1 >= 0) m += load_scale(v.mean, (b * v.mean_slots + s1) * v.rows + r, v.scale_type);
    return m;
  };
  const BinaryTable& t = v.table;
  if (t.formula == kRc) {
    const int sal = q < 2 ? 1 : 0;
    if (q & 1) o.beta = a(t.slot[sal][0][plane]);
    else o.alpha = a(t.slot[sal][1][plane]);
    return o;
  }
  const int sal = (q & 1) ? 0 : 1;
  if (q < 2) {
    o.alpha = a(t.slot[sal][1][plane]);
    o.beta = a(t.slot[sal][0][plane]);
  } else if (plane == 0) {
    // A weight contributes its mean only when some group takes it (slot of plane 0 exists).
    if (t.slot[sal][1][0] >= 0) o.gamma = mu(t.mean[sal][1][0], t.mean[sal][1][1]);
    if (t.slot[sal][0][0] >= 0) o.delta = mu(t.mean[sal][0][0], t.mean[sal][0][1]);
  }
  return o;
}

OB1Q_HD float epilogue_value(const Roles& o, float S, float Sigma, float X, float H) {
  return 0.5f * (o.alpha * (S + Sigma) + o.beta * (S - Sigma) + o.gamma * (X + H) + o.delta * (X - H));
}

}  // namespace ob1q::kernels
