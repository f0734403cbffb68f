// Per-linear calibration statistics (methods.md §4): the running Hessian H = (2/n) sum_s X_s^T X_s
// (n = number of sequences) and its preconditioning into the upper Cholesky factor U of H^-1.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace ob1q::quant {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t dim, c10::Device device);
  // One calibration sequence's inputs of the linear: [L, d] (or [1, L, d]). Accumulated in fp32 with
  // the reference's running rescaling H <- H k/(k+1); k++; H += (2/k) X^T X.
  void add_sequence(const at::Tensor& x);
  const at::Tensor& H() const { return H_; }
  int64_t count() const { return k_; }

 private:
  at::Tensor H_;
  int64_t k_ = 0;
};

struct Preconditioned {
  at::Tensor U;          // upper Cholesky factor of (damped H)^-1, [d, d]
  at::Tensor dead;       // bool [d]: inputs that never fired (H_jj == 0); their weights are zeroed
  double damp = 0;       // relative damping actually used (percdamp, raised when Cholesky failed)
};

// §4: dead inputs (H_jj = 0 -> 1, W[:, j] = 0, in place on W), damping lambda = percdamp*mean(diag H),
// H^-1 through Cholesky, then U = upper Cholesky factor of H^-1. When a factorisation fails the
// damping is multiplied by 10 (up to 5 retries, each logged with `layer`); if it still fails,
// throws ob1q::Error naming the layer.
Preconditioned precondition(const at::Tensor& H, at::Tensor& W, double percdamp, const std::string& layer);

}  // namespace ob1q::quant
