// Internals shared by the binarizers (binarize.cpp) and the structure search
// (structure_search.cpp). Masks are float 0/1 tensors here ("Mf"): products with them are exact
// and they broadcast, which lets the search evaluate many candidate masks in one batched op.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "ob1q/quant/binarize.hpp"

namespace ob1q::quant::detail {

// BiLLM residual binarizer R_k (methods.md §9) on the last two dims: X [m, w] or [C, m, w],
// Mf broadcastable to [C, m, w] (e.g. [C, 1, w] for column masks). Returns W_hat [C, m, w]
// (or [m, w]), zero outside the mask.
at::Tensor braq_batched(const at::Tensor& X, const at::Tensor& Mf, int order);
at::Tensor braq_impl(const at::Tensor& X, const at::Tensor& Mf, int order, BraqResult* params);

// ARB state after its alternating iterations (§10): what ARB-X's calibration phase starts from.
// mu [m, 1]; alpha[o] [m, 1]; B[o] [m, beta] in {-1, 0, +1}, zero outside the mask.
struct ArbState {
  at::Tensor mu;
  std::vector<at::Tensor> alpha;
  std::vector<at::Tensor> B;
  at::Tensor W_hat;
};
ArbState arb_state(const at::Tensor& W, const at::Tensor& Mf, int order, int iters);

// §10 step 3 / §12 step 3: per entry, the candidate (±k1 ± k2) nearest to D, first index on
// ties, in the order (−,−), (−,+), (+,−), (+,+). Returns {B1, B2} in {−1, +1}, multiplied by Mf.
std::vector<at::Tensor> joint_sign(const at::Tensor& D, const at::Tensor& k1, const at::Tensor& k2,
                                   const at::Tensor& Mf);

// ---- candidate errors of the structure search (search_errors.cpp) ----------------------------

// §6: e_i * m * beta for i = 1..up_lim-1 salient columns taken from the front of `top`
// (sum of squared residuals of R2 on the salient and on the other columns). [up_lim-1] float32.
at::Tensor column_count_errors(const at::Tensor& Psi, const at::Tensor& top, int up_lim);

// Sum of squared residuals of R_order(X, |X| < p) + R_order(X, |X| >= p) on X [m, w], for every
// threshold p: [p.size()]. The direct form materialises both reconstructions (float32, batched;
// the definition, kept as the tests' reference); the sorted form gets the same sums in closed
// form from each row sorted by value (float64, O(m log w) per threshold), see search_errors.cpp.
at::Tensor split_errors_direct(const at::Tensor& X, const std::vector<float>& p, int order);
at::Tensor split_errors_sorted(const at::Tensor& X, const std::vector<float>& p, int order);

// The per-row R1 parameters of both groups for every threshold (float64, [m, C]) from the same
// sorted-row sums, and the residual X - R1(X, |X| < p) - R1(X, |X| >= p) they give for the
// thresholds first..first+count-1 ([count, m, w], float32): ARB-X's split error needs it.
struct SplitParams {
  at::Tensor mu_lo, alpha_lo, mu_hi, alpha_hi;  // [m, C]
  at::Tensor sse;                               // [C], = split_errors_sorted(X, p, 1)
};
SplitParams split_params_sorted_r1(const at::Tensor& X, const std::vector<float>& p);
at::Tensor split_residual_r1(const at::Tensor& X, const std::vector<float>& p, const SplitParams& sp, int64_t first,
                             int64_t count);

// Candidates per batch of the direct evaluations: bounds the [C, m, w] temporaries.
int64_t candidates_per_batch(const at::Tensor& like, int64_t elements_per_candidate, int64_t total);

}  // namespace ob1q::quant::detail
