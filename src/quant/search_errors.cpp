// Candidate errors of the structure search (methods.md §6-§7), evaluated for all candidates of
// a block with a handful of large tensor ops and no host round trip per candidate.
//
// Split errors in closed form: a split at p puts |x| < p in the low group and the rest in the
// high group, so on each row sorted by value the low group is one index range and the high group
// two. Every statistic of the residual binarizer (§9) on a union of ranges follows from prefix
// sums of x and x^2 and from the position of its mean in the sorted row (searchsorted): with
// n entries, mu = Sx/n, d = x - mu, alpha = sum|d|/n, the residual is d - alpha sgn0(d) and
//   SSE = sum d^2 - 2 alpha sum|d| + alpha^2 #(d != 0).
// The second order repeats this on the residual, whose entries above / below / equal to mu are
// x - (mu + alpha), x - (mu - alpha) and 0: again ranges of the sorted row with shifted
// thresholds. Cost O(m log w) per threshold instead of O(m w); sums are float64.
#include <ATen/ATen.h>

#include <algorithm>
#include <vector>

#include "binarize_detail.hpp"

namespace ob1q::quant::detail {
namespace {

// Sum of squared residuals of R_order on a matrix whose every entry belongs to the group (the
// column-count candidates are whole columns): the masked statistics become plain row means.
at::Tensor dense_braq_sse(const at::Tensor& X, int order) {
  at::Tensor R = X;
  for (int o = 0; o < order; ++o) {
    const at::Tensor D = R - R.mean(1, /*keepdim=*/true);
    R = D - D.abs().mean(1, true) * D.sign();  // residual after the plane alpha sgn0(D) + mu
  }
  return R.square().sum();
}

at::Tensor thresholds(const std::vector<float>& p, int64_t first, int64_t count, const at::Tensor& like) {
  const std::vector<float> part(p.begin() + first, p.begin() + first + count);
  return at::tensor(part, at::TensorOptions().dtype(at::kFloat)).to(like.device());
}

// Rows sorted by value (float64) with prefix sums cs1 = [0, cumsum x], cs2 = [0, cumsum x^2].
struct SortedRows {
  at::Tensor v, cs1, cs2;  // [m, w], [m, w+1], [m, w+1]
};
SortedRows sort_rows(const at::Tensor& X) {
  SortedRows s;
  s.v = std::get<0>(X.to(at::kDouble).sort(1)).contiguous();
  const at::Tensor zero = at::zeros({X.size(0), 1}, s.v.options());
  s.cs1 = at::cat({zero, s.v.cumsum(1)}, 1);
  s.cs2 = at::cat({zero, s.v.square().cumsum(1)}, 1);
  return s;
}

// A union of index ranges [A_i, B_i) per row and candidate (each bound [m, C], int64).
struct Ranges {
  std::vector<at::Tensor> A, B;
};

at::Tensor range_sum(const at::Tensor& cs, const at::Tensor& A, const at::Tensor& B) {
  return cs.gather(1, B) - cs.gather(1, A);
}
at::Tensor count(const Ranges& g) {
  at::Tensor n = (g.B[0] - g.A[0]).to(at::kDouble);
  for (size_t i = 1; i < g.A.size(); ++i) n += (g.B[i] - g.A[i]).to(at::kDouble);
  return n;
}
at::Tensor total(const at::Tensor& cs, const Ranges& g) {
  at::Tensor s = range_sum(cs, g.A[0], g.B[0]);
  for (size_t i = 1; i < g.A.size(); ++i) s += range_sum(cs, g.A[i], g.B[i]);
  return s;
}
at::Tensor clamp_to(const at::Tensor& K, const at::Tensor& A, const at::Tensor& B) {
  return at::minimum(at::maximum(K, A), B);
}
// The entries of g strictly above t, and strictly below t.
Ranges above(const SortedRows& s, const Ranges& g, const at::Tensor& t) {
  const at::Tensor K = at::searchsorted(s.v, t, false, /*right=*/true);  // first v > t
  Ranges r;
  for (size_t i = 0; i < g.A.size(); ++i) {
    r.A.push_back(clamp_to(K, g.A[i], g.B[i]));
    r.B.push_back(g.B[i]);
  }
  return r;
}
Ranges below(const SortedRows& s, const Ranges& g, const at::Tensor& t) {
  const at::Tensor K = at::searchsorted(s.v, t, false, /*right=*/false);  // first v >= t
  Ranges r;
  for (size_t i = 0; i < g.A.size(); ++i) {
    r.A.push_back(g.A[i]);
    r.B.push_back(clamp_to(K, g.A[i], g.B[i]));
  }
  return r;
}

// sum |x - t| over g and #(x != t).
struct AbsDev {
  at::Tensor sum, nonzero;
};
AbsDev abs_dev(const SortedRows& s, const Ranges& up, const Ranges& down, const at::Tensor& t) {
  const at::Tensor n_up = count(up), n_down = count(down);
  return {(total(s.cs1, up) - t * n_up) + (t * n_down - total(s.cs1, down)), n_up + n_down};
}
AbsDev abs_dev(const SortedRows& s, const Ranges& g, const at::Tensor& t) {
  return abs_dev(s, above(s, g, t), below(s, g, t), t);
}

// R_order of the group g: its first-order parameters and its sum of squared residuals [m, C].
struct GroupFit {
  at::Tensor mu, alpha, sse;
};
GroupFit fit(const SortedRows& s, const Ranges& g, int order) {
  const at::Tensor n = count(g), n1 = n.clamp_min(1);  // an empty group: every sum is 0
  const at::Tensor Sx = total(s.cs1, g), Sxx = total(s.cs2, g);
  GroupFit f;
  f.mu = Sx / n1;
  const Ranges up = above(s, g, f.mu), down = below(s, g, f.mu);
  const AbsDev d = abs_dev(s, up, down, f.mu);
  f.alpha = d.sum / n1;
  f.sse = (Sxx - Sx * f.mu) - 2 * f.alpha * d.sum + f.alpha.square() * d.nonzero;
  if (order == 1) return f;

  // Residual r: x - (mu + alpha) above mu, x - (mu - alpha) below, 0 where x == mu.
  const at::Tensor t_up = f.mu + f.alpha, t_down = f.mu - f.alpha;
  const at::Tensor n_up = count(up), n_down = count(down), n_zero = n - n_up - n_down;
  const at::Tensor mu2 = (total(s.cs1, up) - n_up * t_up + total(s.cs1, down) - n_down * t_down) / n1;
  const AbsDev e_up = abs_dev(s, up, t_up + mu2), e_down = abs_dev(s, down, t_down + mu2);
  const at::Tensor abs2 = e_up.sum + e_down.sum + n_zero * mu2.abs();
  const at::Tensor nonzero2 = e_up.nonzero + e_down.nonzero + n_zero * (mu2 != 0).to(at::kDouble);
  const at::Tensor alpha2 = abs2 / n1;
  // sum (r - mu2)^2 = sum r^2 - n mu2^2, and sum r^2 is the first-order SSE.
  f.sse = (f.sse - n * mu2.square()) - 2 * alpha2 * abs2 + alpha2.square() * nonzero2;
  return f;
}

// Both groups of every threshold: low = [L, R) with L = #(x <= -p), R = #(x < p) (|x| < p),
// high = [0, L) + [R, w).
std::pair<GroupFit, GroupFit> fit_split(const SortedRows& s, const std::vector<float>& p, int order) {
  const int64_t m = s.v.size(0), w = s.v.size(1), C = static_cast<int64_t>(p.size());
  const at::Tensor t = thresholds(p, 0, C, s.v).to(at::kDouble).view({1, C}).expand({m, C}).contiguous();
  const at::Tensor L = at::searchsorted(s.v, -t, false, /*right=*/true);
  // For p = 0 the low group is empty but #(x <= -0) counts the zeros: keep R >= L.
  const at::Tensor R = at::maximum(at::searchsorted(s.v, t, false, /*right=*/false), L);
  const at::Tensor start = at::zeros_like(L), end = at::full_like(L, w);
  return {fit(s, {{L}, {R}}, order), fit(s, {{start, R}, {L, end}}, order)};
}

}  // namespace

int64_t candidates_per_batch(const at::Tensor& like, int64_t elements_per_candidate, int64_t total) {
  // One [C, m, w] temporary: 16 MiB on the CPU (cache- and memory-friendly), 256 MiB on CUDA.
  const int64_t budget = like.is_cuda() ? (int64_t{1} << 26) : (int64_t{1} << 22);
  return std::max<int64_t>(1, std::min<int64_t>(total, budget / std::max<int64_t>(1, elements_per_candidate)));
}

at::Tensor column_count_errors(const at::Tensor& Psi, const at::Tensor& top, int up_lim) {
  const int64_t beta = Psi.size(1);
  // Columns in search order (top list first, then the rest): S_i and N_i become the slices
  // [0, i) and [i, beta).
  at::Tensor rest = at::ones({beta}, top.options().dtype(at::kBool));
  rest.index_fill_(0, top, false);
  const at::Tensor P = Psi.index_select(1, at::cat({top, rest.nonzero().view({-1})}));
  std::vector<at::Tensor> errors;
  for (int i = 1; i < up_lim; ++i)
    errors.push_back(dense_braq_sse(P.narrow(1, 0, i), 2) + dense_braq_sse(P.narrow(1, i, beta - i), 2));
  return at::stack(errors);
}

at::Tensor split_errors_direct(const at::Tensor& X, const std::vector<float>& p, int order) {
  const at::Tensor absX = X.abs().unsqueeze(0);
  const int64_t n = static_cast<int64_t>(p.size());
  const int64_t chunk = candidates_per_batch(X, X.numel(), n);
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < n; first += chunk) {
    const int64_t count = std::min(chunk, n - first);
    const at::Tensor hi = (absX >= thresholds(p, first, count, X).view({count, 1, 1})).to(at::kFloat);
    const at::Tensor W_hat = braq_batched(X, 1 - hi, order) + braq_batched(X, hi, order);
    parts.push_back((X - W_hat).square().sum({1, 2}));
  }
  return at::cat(parts);
}

at::Tensor split_errors_sorted(const at::Tensor& X, const std::vector<float>& p, int order) {
  const auto groups = fit_split(sort_rows(X), p, order);
  return (groups.first.sse + groups.second.sse).sum(0);
}

SplitParams split_params_sorted_r1(const at::Tensor& X, const std::vector<float>& p) {
  const auto groups = fit_split(sort_rows(X), p, 1);
  const GroupFit &lo = groups.first, &hi = groups.second;
  return {lo.mu, lo.alpha, hi.mu, hi.alpha, (lo.sse + hi.sse).sum(0)};
}

at::Tensor split_residual_r1(const at::Tensor& X, const std::vector<float>& p, const SplitParams& sp, int64_t first,
                             int64_t count) {
  // [m, C] parameters -> [count, m, 1], float32 like the reconstructions of the binarizer.
  auto per_candidate = [&](const at::Tensor& a) { return a.narrow(1, first, count).t().unsqueeze(2).to(at::kFloat); };
  const at::Tensor hi = X.abs().unsqueeze(0) >= thresholds(p, first, count, X).view({count, 1, 1});
  const at::Tensor D = X - at::where(hi, per_candidate(sp.mu_hi), per_candidate(sp.mu_lo));
  return D - at::where(hi, per_candidate(sp.alpha_hi), per_candidate(sp.alpha_lo)) * D.sign();
}

}  // namespace ob1q::quant::detail
