// The resident form of a pb-llm linear and its exact per-weight value, shared by the CPU
// reference ops and the CUDA kernels (plain C++, see binary_tiles.hpp). Bits are kept row-major
// as in the checkpoint, re-padded to whole 32-bit words per row; the high-bit codes stay the
// checkpoint's compact list (row-major order of the `high` bits) with a per-row start offset.
#pragma once
#include <cstdint>

#include "ob1q/kernels/binary_tiles.hpp"

namespace ob1q::kernels {

struct PbView {
  int64_t rows = 0, cols = 0, words = 0;  // words: 32-bit words per row
  const uint32_t* sign = nullptr;         // [rows][words], bit c % 32 of word c / 32; 1 = +1
  const uint32_t* high = nullptr;         // [rows][words]; 1 = kept at high_bit bits
  const uint8_t* codes = nullptr;         // [n_high]
  const int64_t* row_begin = nullptr;     // [rows + 1]: first code of each row
  const void* alpha = nullptr;            // [rows] scale type
  const void* mu = nullptr;
  const void* scale = nullptr;
  const uint8_t* zero = nullptr;          // [rows]
  int32_t scale_type = kScaleF16;
};

// W = high ? scale * (code - zero) : alpha * s + mu, in fp32, left to right (docs/format.md).
OB1Q_HD float dequant_pb(const PbView& v, int64_t r, bool high, float s, uint8_t code) {
  if (high) return mul_rn(load_scale(v.scale, r, v.scale_type), float(code) - float(v.zero[r]));
  return add_rn(mul_rn(load_scale(v.alpha, r, v.scale_type), s), load_scale(v.mu, r, v.scale_type));
}

}  // namespace ob1q::kernels
