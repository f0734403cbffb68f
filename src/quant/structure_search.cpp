// Per-block structure search of methods.md §6-§8 (salient column count, CGB split of the
// salient columns, magnitude split of the rest) and the block binarization of §8.
// Every search runs on the saliency matrix Psi, not on W; only binarize_block touches W.
// The candidate errors (search_errors.cpp) are evaluated for all candidates of a block at once,
// with one transfer of the error vector to the host per search.
#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "binarize_detail.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/quant/binarize.hpp"

namespace ob1q::quant {
namespace {

// Index of the first strictly smallest error (the references' "<" scan from +inf). When no
// error compares below +inf (NaN/inf everywhere), the ARB code's fallback: the first candidate.
int64_t first_min(const at::Tensor& errors) {
  const at::Tensor e = errors.to(at::kCPU, at::kDouble).contiguous();
  const double* p = e.data_ptr<double>();
  double best = std::numeric_limits<double>::infinity();
  int64_t arg = 0;
  for (int64_t k = 0; k < e.numel(); ++k)
    if (p[k] < best) {
      best = p[k];
      arg = k;
    }
  return arg;
}

// Break points for a split: the 81 float32 quantiles of the pool, consecutive duplicates dropped
// (equal thresholds give identical masks and errors, so the first-minimum choice is unchanged).
std::vector<float> break_points(const at::Tensor& pool) {
  std::vector<float> p = quantiles_f32(pool, quantile_levels());
  p.erase(std::unique(p.begin(), p.end()), p.end());
  return p;
}

// §7(b) CGB: split of the salient submatrix Psi_s [m, k] at |Psi| >= p; pool = the non-zero
// |Psi| on the salient columns; error with R2 on both sides. Entries outside the salient columns
// add the same constant to every candidate and are left out. Returns the chosen p.
float cgb_split(const at::Tensor& Psi_s) {
  const at::Tensor flat = Psi_s.abs().reshape(-1);
  const at::Tensor pool = flat.masked_select(flat != 0);
  // No non-zero salient value (e.g. dead columns): the references would fail on an empty
  // quantile; a threshold of 0 puts the whole salient set in S_hi, which loses nothing.
  if (pool.numel() == 0) return 0.0f;
  const std::vector<float> p = break_points(pool);
  return p[static_cast<size_t>(first_min(detail::split_errors_sorted(Psi_s, p, 2)))];
}

// §7(a) magnitude split of the non-salient columns with R1 on both sides; pool = |Psi * 1_Mns|
// over all m*beta entries (zeros of the salient columns included, as the references do).
// MSE families: the salient reconstruction G3 only adds a constant, so the error is the R1 error
// of the non-salient submatrix (closed form on sorted rows). ARB-X weights the residual
// E = Psi - R1(N_lo) - R1(N_hi) - G3 of the whole block with its Gram: sum_r E_r S E_r^T.
// With E = [b | e] on (salient, non-salient) columns, only e S_nn e^T + e . b (S_sn + S_ns^T)
// depends on the candidate; b S_ss b^T is the same for all and is left out.
float nonsalient_split(const at::Tensor& Psi, const at::Tensor& sal_idx, const at::Tensor& sal_col,
                       const at::Tensor& ns_idx, const SearchOptions& opt, const at::Tensor& S) {
  const int64_t m = Psi.size(0), beta = Psi.size(1);
  const std::vector<float> p = break_points(Psi.abs() * (~sal_col).to(at::kFloat).view({1, beta}));
  const at::Tensor Psi_n = Psi.index_select(1, ns_idx);
  const detail::SplitParams sp = detail::split_params_sorted_r1(Psi_n, p);
  if (opt.family != Family::ArbX) return p[static_cast<size_t>(first_min(sp.sse))];

  const at::Tensor sal_f = sal_col.to(at::kFloat).view({1, beta}).expand({m, beta});
  const at::Tensor G3 = detail::arb_state(Psi, sal_f, 2, opt.iters).W_hat;  // ARB order 2, unsplit
  const at::Tensor b = (Psi - G3).index_select(1, sal_idx);
  const at::Tensor Sf = S.to(Psi.device(), at::kFloat);
  const at::Tensor S_nn = Sf.index_select(0, ns_idx).index_select(1, ns_idx);
  const at::Tensor S_sn = Sf.index_select(0, sal_idx).index_select(1, ns_idx);
  const at::Tensor S_ns = Sf.index_select(0, ns_idx).index_select(1, sal_idx);
  const at::Tensor g = b.mm(S_sn + S_ns.t());  // [m, n]
  const int64_t n = static_cast<int64_t>(p.size());
  const int64_t chunk = detail::candidates_per_batch(Psi, Psi_n.numel(), n);
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t count = std::min(chunk, n - first);
    const at::Tensor e = detail::split_residual_r1(Psi_n, p, sp, first, count);
    parts.push_back(((e.matmul(S_nn) + g) * e).sum({1, 2}));
  }
  return p[static_cast<size_t>(first_min(at::cat(parts)))];
}

}  // namespace

BlockStructure search_block(const at::Tensor& W, const at::Tensor& Udiag, const SearchOptions& opt,
                            const at::Tensor& S) {
  TORCH_CHECK(W.dim() == 2 && W.scalar_type() == at::kFloat, "search_block: W must be a 2-D float32 tensor");
  const int64_t m = W.size(0), beta = W.size(1);
  if (opt.up_lim < 2) fail("search_block", "up_lim must be at least 2, got " + std::to_string(opt.up_lim));
  if (beta < opt.up_lim)
    fail("search_block", "block of " + std::to_string(beta) + " columns is narrower than the " +
                             std::to_string(opt.up_lim) + " columns the salient search needs");
  if (opt.family == Family::ArbX && !(S.defined() && S.dim() == 2 && S.size(0) == beta && S.size(1) == beta))
    fail("search_block", "ARB-X needs the [" + std::to_string(beta) + ", " + std::to_string(beta) + "] block Gram S");

  at::Tensor Psi = W;
  if (opt.metric == SalientMetric::Hessian) {
    TORCH_CHECK(Udiag.defined() && Udiag.numel() == beta, "search_block: Udiag must have one entry per column");
    Psi = W.square() / Udiag.to(W.device(), at::kFloat).reshape({1, beta}).square();
  }

  // §6: the up_lim highest-scoring columns, then the salient column count among them.
  const at::Tensor top = std::get<1>(Psi.abs().sum(0).topk(opt.up_lim, 0, /*largest=*/true, /*sorted=*/true));
  const int k = static_cast<int>(first_min(detail::column_count_errors(Psi, top, opt.up_lim))) + 1;
  const at::Tensor sal_idx = top.narrow(0, 0, k);
  const at::Tensor sal_col = at::zeros({beta}, W.options().dtype(at::kBool)).index_fill_(0, sal_idx, true);
  const at::Tensor ns_idx = (~sal_col).nonzero().view({-1});
  const at::Tensor M_sal = sal_col.view({1, beta}).expand({m, beta}).contiguous();
  const at::Tensor M_ns = ~M_sal;
  const at::Tensor abs_psi = Psi.abs();

  BlockStructure s;
  s.salient_columns = k;
  const bool cgb = opt.cgb && opt.family != Family::Billm;
  // §7(b) is computed before (a) and does not influence it.
  at::Tensor S_hi, S_lo;
  if (cgb) {
    const float p_sal = cgb_split(Psi.index_select(1, sal_idx));
    S_hi = M_sal & (abs_psi >= p_sal);
    S_lo = M_sal & ~S_hi;
  }
  const float p_ns = nonsalient_split(Psi, sal_idx, sal_col, ns_idx, opt, S);
  const at::Tensor N_hi = M_ns & (abs_psi >= p_ns);
  const at::Tensor N_lo = M_ns & ~N_hi;

  // §8 group order (immaterial to the result, kept as the code lists them).
  if (opt.family == Family::Billm)
    s.groups = {{"N_lo", N_lo, 1}, {"N_hi", N_hi, 1}, {"M_sal", M_sal, 2}};
  else if (cgb)
    s.groups = {{"S_hi", S_hi, 2}, {"S_lo", S_lo, 2}, {"N_hi", N_hi, 1}, {"N_lo", N_lo, 1}};
  else
    s.groups = {{"M_sal", M_sal, 2}, {"N_hi", N_hi, 1}, {"N_lo", N_lo, 1}};
  s.salient = sal_col;
  s.hi = cgb ? (S_hi | N_hi) : N_hi;
  return s;
}

}  // namespace ob1q::quant
