// One quantized linear layer as the tensors the packed checkpoint stores (docs/format.md), and
// back. Two layouts: "binary-blocks" (BiLLM, ARB, ARB-X, ARB-RC, OA: per block of input columns,
// groups of sign planes with row/column scales) and "pb-llm" (xnor-binarized weights plus a
// per-weight set kept at high_bit bits).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ob1q/pack/binary_code.hpp"

namespace ob1q::pack {

struct PackedLinear {
  std::string layout;                          // "binary-blocks" | "pb-llm"; empty = not packed
  nlohmann::json spec;                         // what dequantization needs besides the tensors (layout, groups, ...)
  int64_t rows = 0, cols = 0;                  // the weight's [out, in]
  std::map<std::string, at::Tensor> tensors;   // suffix ("sign", "row_scale", ...) -> CPU tensor, storage dtype
  bool empty() const { return layout.empty(); }
  int64_t stored_bytes() const;                // what the tensors take on disk
};

// LSB-first bit packing along the last dimension: bool [..., n] <-> uint8 [..., ceil(n/8)].
at::Tensor pack_bits(const at::Tensor& bits);
at::Tensor unpack_bits(const at::Tensor& bytes, int64_t n);

// A stored tensor with the shape a layout requires: U8 bits/codes, or scales in any floating
// dtype (throws naming "<where>.<suffix>" otherwise); moved to `device`.
at::Tensor fetch_checked(const std::function<at::Tensor(const std::string&)>& get, const std::string& where,
                         const std::string& suffix, const std::vector<int64_t>& shape, bool floating, c10::Device device);
// A sign_zero list: I32-compatible [z, 3] of (plane < planes, row < rows, col < cols).
void check_zero_list(const at::Tensor& zl, int64_t planes, int64_t rows, int64_t cols, const std::string& where);

// ---- binary-blocks -----------------------------------------------------------------------------
// Blocks of `blocksize` columns (the last may be narrower), in column order.
// Scales are stored as `storage` (they must already be rounded to it: round_scales).
PackedLinear pack_binary(const CodeLayout& layout, int64_t blocksize, const std::vector<BlockCode>& blocks,
                         at::ScalarType storage = at::kHalf);
// Looks up stored tensors by suffix (throws when missing); the reader validates shapes/dtypes.
using TensorGetter = std::function<at::Tensor(const std::string& suffix)>;
using TensorProbe = std::function<bool(const std::string& suffix)>;
std::vector<BlockCode> unpack_binary(const CodeLayout& layout, int64_t blocksize, int64_t rows, int64_t cols,
                                     const TensorGetter& get, const TensorProbe& has, c10::Device device,
                                     const std::string& where);
at::Tensor dequantize_binary(const CodeLayout& layout, const std::vector<BlockCode>& blocks);  // fp32 [m, d]

// ---- pb-llm ------------------------------------------------------------------------------------
struct PbCode {
  at::Tensor high;   // bool [m, d]: kept at high_bit bits
  at::Tensor sign;   // int8 [m, d] in {-1, 0, +1} (ignored where high)
  at::Tensor codes;  // uint8 [m, d] (only read where high)
  at::Tensor alpha, mu, scale, zero;  // fp32 [m]; zero holds integers 0..255
};
void round_scales(PbCode& code, at::ScalarType storage = at::kHalf);
// W = high ? scale*(code - zero) : alpha*sign + mu, fp32 [m, d].
at::Tensor dequantize_pb(const PbCode& code);
PackedLinear pack_pb(const PbCode& code, at::ScalarType storage = at::kHalf);
PbCode unpack_pb(int64_t rows, int64_t cols, const TensorGetter& get, const TensorProbe& has, c10::Device device,
                 const std::string& where);

}  // namespace ob1q::pack
