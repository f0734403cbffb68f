// Packed modules kept packed in memory: the bridge from the stored tensors (docs/format.md) to the
// kernels area's PackedMatrix.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ob1q/kernels/packed_matrix.hpp"
#include "ob1q/pack/binary_code.hpp"
#include "ob1q/pack/packed_linear.hpp"

namespace ob1q::pack {

// How the kernels see a binary-blocks group layout.
kernels::BinaryTable binary_table(const CodeLayout& layout);

// The module described by `spec` (its quantization_config layout) as a PackedMatrix on `device`,
// after the same checks as dequantization (shapes, dtypes, finite scales, sign_zero ranges).
// Returns null when the kernels cannot run this layout (then *unsupported says why): the caller
// falls back to dequantized dense weights.
std::shared_ptr<kernels::PackedMatrix> make_resident(const nlohmann::json& spec, int64_t rows, int64_t cols,
                                                     const TensorGetter& get, const TensorProbe& has,
                                                     at::ScalarType round_to, c10::Device device,
                                                     const std::string& where, std::string* unsupported);

}  // namespace ob1q::pack
