// The paper's method (methods.md §15-§18): output alignment with the full-precision target and
// Attention-Matrix Preservation, as a refinement of ARB-RC's reconstruction of one block of the
// layer's input channels. Block loss L(W_hat) = const - 2<T, W_hat> + <W_hat S_hat, W_hat> with
// T = W_J C_J (C_J = (1/n) sum_s X_{s,J}^T Xhat_{s,J}, the cross Gram; S_hat = H_undamped[J,J]/2).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/quant/binarize.hpp"

namespace ob1q::quant {

// Every flag of methods.md §15-§19, with its default.
struct OaOptions {
  int iters = 15;                          // --oa-iters (T_oa)
  int k = 5;                               // --oa-k: s_out and B steps when (it + 1) % k == 0
  int bsteps = 2;                          // --oa-bsteps: B steps per k-cycle
  std::string amp = "on";                  // --amp on|off
  std::string amp_mask = "heaviside";      // --amp-mask heaviside|direction|ternary
  std::string amp_gram = "cross";          // --oa-amp-gram cross|quant  (M = T^T T vs S_hat W W^T S_hat)
  std::string n_gram = "quant";            // --oa-n-gram quant|cross   (quadratic term built from S_hat or C)
  std::string bform = "exact";             // --oa-bform exact|signfixed-2p|literal
  bool cross_transpose = false;            // --oa-cross-transpose (T = W C^T instead of W C)
  std::string brows = "paper-argmax";      // --oa-brows paper-argmax|greedy-gain|all-jacobi|all-gauss-seidel
  std::string coupling = "joint";          // --oa-coupling joint|independent
  std::string order2 = "both";             // --oa-order2 both|first|skip
  std::string init = "arbrc";              // --oa-init arbrc|plain
  int sweeps = 1;                          // --oa-sweeps (joint coupling)
  std::string solver = "cholesky-f64";     // --oa-solver cholesky-f64 (fp64 on the device; falls back to
                                           // gelsd when not definite) | gelsd-cpu-f64 (CPU, §16) | pinv
  int rc_iters = 15;                       // ARB-RC iterations for the initialisation (T)
};

// Optional per-block diagnostics: the block loss under the ARB-RC initialisation and after OA.
struct OaBlockStats {
  double loss_arbrc = 0;
  double loss_oa = 0;

  // The refined parameters of every plane, in refinement order (also the planes that
  // --oa-order2 leaves at their ARB-RC values): Q_J = sum_p diag(s_out) B diag(s_in).
  struct Plane {
    int group = 0;      // index into BlockStructure::groups
    int plane = 0;      // 0 or 1 (order-2 groups have two)
    at::Tensor s_out;   // [m]
    at::Tensor s_in;    // [beta]
    at::Tensor B;       // [m, beta]: +-1 on the group's entries, 0 outside
  };
  std::vector<Plane> planes;

  // Input: when true, the block loss (with the target OA optimises, i.e. W C^T under
  // --oa-cross-transpose) is evaluated after every step. One m x beta^2 product and a device
  // sync per step: for tests and diagnostics only.
  bool record_steps = false;
  struct Step {
    int plane = 0;  // index into `planes`
    int sweep = 0;
    int iter = 0;   // 0-based OA iteration
    char kind = 0;  // 'i' s_in step, 'o' s_out step, 'b' B step
    double loss = 0;
  };
  std::vector<Step> steps;
};

// W: the compensated block W_J [m, beta] (fp32); S_hat, C: [beta, beta] fp32 (for the
// activation-objective ablation the caller passes C = S_hat); st: the ARB-RC (+CGB) structure of
// the block (search_block with Family::ArbRc). Returns Q_J (zero nowhere outside the groups' union,
// which covers the block). Throws ob1q::Error for invalid option values.
at::Tensor oa_refine_block(const at::Tensor& W, const at::Tensor& S_hat, const at::Tensor& C,
                           const BlockStructure& st, const OaOptions& opt, OaBlockStats* stats = nullptr);

// The block loss L(W_hat) - const, i.e. -2<T, W_hat> + <W_hat S_hat, W_hat> (T = W C).
double oa_block_loss(const at::Tensor& W, const at::Tensor& S_hat, const at::Tensor& C, const at::Tensor& W_hat);

}  // namespace ob1q::quant
