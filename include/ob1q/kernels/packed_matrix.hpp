// A linear layer's weight that stays in its packed 1-bit form in memory: y = x W^T (+ b) is
// computed from the packed bits and scales, on the CPU (reference ops, exact) or on a CUDA
// device (tensor-core kernels for decode, tile dequantization for prefill). The model holds one
// per quantized linear instead of a dense weight; nothing here knows the file format (the pack
// area reads the checkpoint and hands the stored tensors over).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <memory>
#include <string>

#include "ob1q/kernels/binary_tiles.hpp"

namespace ob1q::kernels {

class PackedMatrix {
 public:
  virtual ~PackedMatrix() = default;
  virtual int64_t rows() const = 0;  // output features
  virtual int64_t cols() const = 0;  // input features
  virtual std::string layout() const = 0;
  virtual c10::Device device() const = 0;
  // Bytes of every tensor this matrix keeps (what "resident weight memory" counts).
  virtual int64_t resident_bytes() const = 0;
  // x: [..., cols], floating point -> [..., rows] in x's dtype; `bias` [rows] or undefined.
  // Decode-sized inputs (at most kMaxGemvRows rows of x) on CUDA in fp16/bf16 run the
  // tensor-core kernel; everything else dequantizes tiles of the weight on the fly.
  virtual at::Tensor linear(const at::Tensor& x, const at::Tensor& bias) const = 0;
  // The weight [rows, cols] in `dtype`, exactly as docs/format.md's dequantize() defines it
  // (fp32 arithmetic, rounded to the checkpoint dtype, then to `dtype`).
  virtual at::Tensor dense(at::ScalarType dtype) const = 0;
  // The CUDA decode kernel's arithmetic (fragments, tensor-core products, epilogue), emulated
  // on the CPU for a CPU-resident matrix, with the B operands rounded to `operand` (fp16, bf16, or
  // fp32 = unrounded): tests check the kernel's decomposition with it where no GPU is present.
  virtual at::Tensor linear_emulated(const at::Tensor& x, const at::Tensor& bias, at::ScalarType operand) const = 0;
};

// Rows of x (batch x tokens) up to which CUDA uses the GEMV kernels.
constexpr int64_t kMaxGemvRows = 8;

// The stored tensors of one binary-blocks module (docs/format.md), validated by the reader:
// bit planes as stored (U8, LSB first), scales in their storage dtype.
struct BinaryBlocksStored {
  int64_t rows = 0, cols = 0, blocksize = 0;
  BinaryTable table;
  int32_t slots = 0, mean_slots = 0;
  at::Tensor sign, hi, sign2, salient;   // U8 [m, ceil(d/8)], [m, ceil(d/8)], [m, ceil(k/8)], [ceil(d/8)]
  at::Tensor zero_cols, sign_zero;       // U8 [ceil(d/8)] / I32 [z, 3], or undefined
  at::Tensor row_scale, col_scale, mean;  // [nb, S, m], [nb, S, bs] (rc), [nb, Sm, m] (arb, braq)
  at::ScalarType round_to = at::kHalf;   // the checkpoint dtype dequantized weights are rounded to
};

// The stored tensors of one pb-llm module.
struct PbLlmStored {
  int64_t rows = 0, cols = 0;
  at::Tensor sign, high, high_codes;  // U8 [m, ceil(d/8)], [m, ceil(d/8)], [n_high]
  at::Tensor alpha, mu, scale, zero;  // [m] storage dtype (zero: U8)
  at::Tensor sign_zero;               // I32 [z, 3] or undefined
  at::ScalarType round_to = at::kHalf;
};

std::shared_ptr<PackedMatrix> make_binary_blocks(const BinaryBlocksStored& stored, c10::Device device);
std::shared_ptr<PackedMatrix> make_pb_llm(const PbLlmStored& stored, c10::Device device);

// True when this build has the CUDA kernels (built against a CUDA LibTorch).
bool cuda_kernels_built();

}  // namespace ob1q::kernels
