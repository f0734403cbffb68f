// The GPTQ/OBQ-style block driver of BiLLM / ARB (methods.md §5): walk the input dimension in
// blocks of beta columns, quantize each whole block at once with a method-supplied function, and
// push the error onto the columns not yet quantized through the Cholesky factor U of H^-1.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <string>

#include "ob1q/quant/hessian.hpp"

namespace ob1q::quant {

enum class Compensation {
  BillmDiag,   // E = (W_J - Q_J) diag(U_JJ)^-1   (the references; default)
  ExactBlock,  // E = (W_J - Q_J) U_JJ^-1          (exact OBS update for a block fixed at once)
};
Compensation parse_compensation(const std::string& s);

struct BlockContext {
  int64_t col0 = 0;     // first input column of the block
  at::Tensor Udiag;     // diag(U_JJ) [w]
  at::Tensor S;         // block Gram S_J = H_undamped[J,J] / 2 [w, w] (ARB-X / OA)
};

// Returns Q_J for the current (compensated) block W_J [m, w].
using BlockQuantizer = std::function<at::Tensor(const at::Tensor& W_J, const BlockContext& ctx)>;

struct DriverOptions {
  int64_t blocksize = 128;
  double percdamp = 0.01;
  Compensation comp = Compensation::BillmDiag;
};

struct DriverResult {
  at::Tensor W_hat;   // fp32 [m, d]
  double loss = 0;    // diagnostic: 1/2 sum (W_J - Q_J)^2 / U_jj^2
  double damp = 0;    // relative damping used
  int64_t dead = 0;   // dead input channels
};

// W: [m, d] weights (any float dtype; worked on in fp32 on W's device), H: undamped Hessian [d, d].
DriverResult run_block_driver(const at::Tensor& W, const at::Tensor& H, const DriverOptions& opt,
                              const BlockQuantizer& quantize_block, const std::string& layer);

}  // namespace ob1q::quant
