// Reading, rounding and writing the element types the kernels see (fp16, bf16, fp32), with the
// exact conversions of binary_tiles.hpp (round to nearest even, as LibTorch converts).
#pragma once
#include "launch.hpp"

namespace ob1q::kernels::cu {

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

// f rounded to the element type and back (what storing and reloading it would give).
__device__ __forceinline__ float round_elem(float f, int32_t elem) {
  if (elem == kF16) return half_to_float(float_to_half_rne(f));
  if (elem == kBF16) return bf16_to_float(float_to_bf16_rne(f));
  return f;
}

}  // namespace ob1q::kernels::cu
