// LSB-first bit unpacking along the last dimension: uint8 [..., ceil(n/8)] -> bool [..., n]
// (docs/format.md's packing; element j is bit j % 8 of byte j / 8). Shared by the packed format's
// reader and the kernels' layout builders.
#pragma once
#include <ATen/core/Tensor.h>

namespace ob1q::kernels {

at::Tensor unpack_bits(const at::Tensor& bytes, int64_t n);

}  // namespace ob1q::kernels
