// CPU reference ops: the exact dense rows of a packed weight, computed from the resident form
// with the same per-weight function the CUDA dequantization kernel uses (binary_tiles.hpp,
// pb_rows.hpp). Compiled with -ffp-contract=off so that every product and sum is rounded as the
// quantizer rounded it.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops.hpp"

namespace ob1q::kernels::cpu {

namespace {

float round_through(float v, at::ScalarType t) {
  switch (t) {
    case at::kHalf: return half_to_float(float_to_half_rne(v));
    case at::kBFloat16: return bf16_to_float(float_to_bf16_rne(v));
    default: return v;
  }
}

}  // namespace

at::Tensor binary_dense_rows(const BinaryView& v, const ZeroFixes& fixes, at::ScalarType round_to, int64_t r0, int64_t r1) {
  at::Tensor out = at::empty({r1 - r0, v.cols}, at::kFloat);
  float* o = out.data_ptr<float>();
  const int64_t d = v.cols;
  at::parallel_for(r0, r1, 16, [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r)
      for (int64_t c = 0; c < d; ++c) o[(r - r0) * d + c] = round_through(dequant_binary(v, r, c, 0), round_to);
  });
  if (fixes.rc.defined() && fixes.rc.size(0) > 0) {
    const int64_t* rc = fixes.rc.data_ptr<int64_t>();
    const int32_t* mask = fixes.mask.data_ptr<int32_t>();
    for (int64_t i = 0; i < fixes.rc.size(0); ++i) {
      const int64_t r = rc[2 * i], c = rc[2 * i + 1];
      if (r >= r0 && r < r1) o[(r - r0) * d + c] = round_through(dequant_binary(v, r, c, mask[i]), round_to);
    }
  }
  return out;
}

at::Tensor pb_dense_rows(const PbView& v, const at::Tensor& zero_rc, at::ScalarType round_to, int64_t r0, int64_t r1) {
  at::Tensor out = at::empty({r1 - r0, v.cols}, at::kFloat);
  float* o = out.data_ptr<float>();
  const int64_t d = v.cols;
  at::parallel_for(r0, r1, 16, [&](int64_t a, int64_t b) {
    for (int64_t r = a; r < b; ++r) {
      int64_t code = v.row_begin[r];
      for (int64_t c = 0; c < d; ++c) {
        const int64_t w = r * v.words + c / 32;
        const int bit = int(c % 32);
        const bool high = (v.high[w] >> bit) & 1u;
        const float s = ((v.sign[w] >> bit) & 1u) ? 1.f : -1.f;
        o[(r - r0) * d + c] = round_through(dequant_pb(v, r, high, s, high ? v.codes[code] : 0), round_to);
        if (high) ++code;
      }
    }
  });
  if (zero_rc.defined() && zero_rc.size(0) > 0) {
    const int64_t* rc = zero_rc.data_ptr<int64_t>();
    for (int64_t i = 0; i < zero_rc.size(0); ++i) {
      const int64_t r = rc[2 * i], c = rc[2 * i + 1];
      if (r >= r0 && r < r1) o[(r - r0) * d + c] = round_through(dequant_pb(v, r, false, 0.f, 0), round_to);
    }
  }
  return out;
}

}  // namespace ob1q::kernels::cpu

namespace ob1q::kernels::cpu {

namespace {

float operand_round(float f, at::ScalarType t) { return t == at::kFloat ? f : round_through(f, t); }

// The value of one 16-bit half of an A-fragment register as the kernel builds it: sign bit 15
// of the register after the shift, magnitude 1.
float a_half(uint32_t reg, int half) { return ((reg >> (16 * half + 15)) & 1u) ? -1.f : 1.f; }

}  // namespace

at::Tensor binary_gemv_emulated(const BinaryView& v, int64_t tiles, const at::Tensor& x, const at::Tensor& xcls,
                                at::ScalarType operand) {
  const int64_t N = x.size(0), mt = (v.rows + 15) / 16, NT = (N + 1) / 2;
  const at::Tensor xc = x.to(at::kFloat).contiguous();
  const float* xp = xc.data_ptr<float>();
  const at::Tensor cls = xcls.defined() ? xcls.to(at::kFloat).contiguous() : at::Tensor();
  at::Tensor y = at::zeros({N, v.rows}, at::kDouble);
  double* yp = y.data_ptr<double>();
  const bool means = v.table.formula != kRc;
  // B fragments of every tile: [tiles][nt][lane][4] (what prep_kernel writes).
  std::vector<float> bf(size_t(tiles * NT * 32 * 4));
  for (int64_t t = 0; t < tiles; ++t) {
    const int32_t info = v.tile_info[t];
    for (int64_t nt = 0; nt < NT; ++nt)
      for (int lane = 0; lane < 32; ++lane) {
        const int g = lane >> 2, tq = lane & 3, q = g & 3;
        const int64_t batch = nt * 2 + (g >> 2);
        const int ks[4] = {2 * tq, 2 * tq + 1, 2 * tq + 8, 2 * tq + 9};
        for (int i = 0; i < 4; ++i) {
          const int32_t col = v.tile_col[t * 16 + ks[i]];
          float val = 0.f;
          if (batch < N && col >= 0) val = bvec_coef(v, tile_block(info), tile_plane(info), col, q) * xp[batch * v.cols + col];
          bf[size_t(((t * NT + nt) * 32 + lane) * 4 + i)] = operand_round(val, operand);
        }
      }
  }
  for (int64_t rt = 0; rt < mt; ++rt) {
    // Accumulators of every lane: [kind s/sigma/h][plane][nt][lane][4].
    std::vector<float> acc(size_t(3 * 2 * NT * 32 * 4), 0.f);
    auto A = [&](int kind, int p, int64_t nt, int lane, int i) -> float& {
      return acc[size_t((((kind * 2 + p) * NT + nt) * 32 + lane) * 4 + i)];
    };
    for (int64_t t = 0; t < tiles; ++t) {
      const int32_t info = v.tile_info[t];
      const int plane = tile_plane(info), kt = int(t & 3);
      const int64_t w = t >> 2;
      // The three +-1 matrices (s, sigma, h) of this tile, assembled from the lanes' A registers
      // exactly as the kernel builds them.
      float M[3][16][16] = {};
      for (int lane = 0; lane < 32; ++lane) {
        const uint32_t s = v.s[((rt * v.words4 + (w >> 2)) * 32 + lane) * 4 + (w & 3)];
        const uint32_t h = v.h[((rt * v.words4 + (w >> 2)) * 32 + lane) * 4 + (w & 3)];
        const uint32_t words[3] = {s, ~(s ^ h), h};
        const int g = lane >> 2, tq = lane & 3;
        for (int kind = 0; kind < 3; ++kind)
          for (int ri = 0; ri < 4; ++ri) {
            const uint32_t reg = ((~words[kind] << (15 - (4 * kt + ri))) & 0x80008000u) | 0x3C003C00u;
            for (int half = 0; half < 2; ++half) {
              // mma.m16n8k16 A layout: a_{2ri+half} at row g + 8 (ri & 1), column 2 tq + half + 8 (ri >> 1).
              M[kind][g + 8 * (ri & 1)][2 * tq + half + 8 * (ri >> 1)] = a_half(reg, half);
            }
          }
      }
      for (int64_t nt = 0; nt < NT; ++nt) {
        float Bm[16][8] = {};
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane >> 2, tq = lane & 3;
          const float* f = &bf[size_t(((t * NT + nt) * 32 + lane) * 4)];
          Bm[2 * tq][g] = f[0], Bm[2 * tq + 1][g] = f[1], Bm[2 * tq + 8][g] = f[2], Bm[2 * tq + 9][g] = f[3];
        }
        for (int kind = 0; kind < (means && plane == 0 ? 3 : 2); ++kind)
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane >> 2, tq = lane & 3;
            // C layout: c0 (g, 2tq), c1 (g, 2tq+1), c2 (g+8, 2tq), c3 (g+8, 2tq+1).
            for (int i = 0; i < 4; ++i) {
              const int row = g + 8 * (i >> 1), n = 2 * tq + (i & 1);
              float d = 0.f;
              for (int k = 0; k < 16; ++k) d += M[kind][row][k] * Bm[k][n];
              A(kind, plane, nt, lane, i) += d;
            }
          }
      }
      if (!tile_last(info)) continue;
      const int64_t b = tile_block(info);
      for (int64_t nt = 0; nt < NT; ++nt)
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane >> 2, tq = lane & 3;
          const int64_t batch = nt * 2 + (tq >> 1);
          for (int rh = 0; rh < 2; ++rh) {
            const int64_t r = rt * 16 + g + 8 * rh;
            if (r >= v.rows || batch >= N) continue;
            for (int qi = 0; qi < 2; ++qi) {
              const int q = ((2 * tq) & 3) + qi, i = 2 * rh + qi;
              for (int p = 0; p < 2; ++p) {
                float X = 0.f, H = 0.f;
                if (means && p == 0 && q >= 2) {
                  X = cls.data_ptr<float>()[(b * 2 + (q - 2)) * N + batch];
                  H = A(2, 0, nt, lane, i);
                }
                yp[batch * v.rows + r] +=
                    epilogue_value(epilogue_roles(v, b, r, p, q), A(0, p, nt, lane, i), A(1, p, nt, lane, i), X, H);
              }
            }
          }
        }
      std::fill(acc.begin(), acc.end(), 0.f);
    }
  }
  return y.to(at::kFloat);
}

}  // namespace ob1q::kernels::cpu
