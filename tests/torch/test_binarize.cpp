// Binarizers of methods.md §9-§12 against hand-computed values, exact-form recovery, brute-force
// optima of their closed-form steps and the monotonicity of their alternating updates.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../../src/quant/binarize_detail.hpp"  // joint_sign: white-box test of the tie rule
#include "ob1q/quant/binarize.hpp"

using namespace ob1q::quant;

namespace {

at::Tensor mat(std::vector<float> v, int64_t m, int64_t n) { return at::tensor(v).view({m, n}).clone(); }
at::Tensor full_mask(const at::Tensor& W) { return at::ones_like(W, at::kBool); }
at::Tensor maskf(const at::Tensor& M) { return M.to(at::kFloat); }

// Squared error of a reconstruction on the mask.
double masked_sse(const at::Tensor& W, const at::Tensor& W_hat, const at::Tensor& M) {
  return ((W - W_hat) * maskf(M)).square().sum().item<double>();
}

// sum_r (w_r - w_hat_r) S (w_r - w_hat_r)^T on the mask, in double.
double gram_error(const at::Tensor& W, const at::Tensor& W_hat, const at::Tensor& M, const at::Tensor& S) {
  const at::Tensor E = ((W - W_hat) * maskf(M)).to(at::kDouble);
  return (E.mm(S.to(at::kDouble)) * E).sum().item<double>();
}

void expect_zero_outside(const at::Tensor& W_hat, const at::Tensor& M) {
  EXPECT_EQ(W_hat.masked_select(~M).abs().sum().item<float>(), 0.0f);
}

void expect_non_increasing(const std::vector<double>& e, double rel = 1e-6) {
  for (size_t k = 1; k < e.size(); ++k)
    EXPECT_LE(e[k], e[k - 1] * (1 + rel) + 1e-12) << "iteration " << k << " raised the error";
}

// A small random Gram S = X^T X / n (symmetric positive definite).
at::Tensor random_gram(int64_t beta) {
  const at::Tensor X = at::randn({4 * beta, beta});
  return X.t().mm(X) / (4 * beta) + 0.1 * at::eye(beta);
}

}  // namespace

// ---- BiLLM residual binarizer (§9) -----------------------------------------------------------

TEST(BinarizeBraq, Order1HandComputed) {
  // Row 0: mean 3, deviations (-2,-1,0,3), alpha = 6/4; the exact zero keeps sgn0 = 0 -> mean.
  // Row 1: mean 1, same deviations.
  const at::Tensor W = mat({1, 2, 3, 6, -1, 0, 1, 4}, 2, 4);
  const at::Tensor expected = mat({1.5, 1.5, 3, 4.5, -0.5, -0.5, 1, 2.5}, 2, 4);
  EXPECT_TRUE(at::equal(braq(W, full_mask(W), 1), expected));
}

TEST(BinarizeBraq, Order1MaskedStatisticsAndEmptyRow) {
  // Row 0 on {1,2,6}: mean 3, deviations (-2,-1,3), alpha 2. Row 1 has no entry: zeros, no NaN.
  const at::Tensor W = mat({1, 2, 3, 6, -1, 0, 1, 4}, 2, 4);
  const at::Tensor M = mat({1, 1, 0, 1, 0, 0, 0, 0}, 2, 4).to(at::kBool);
  const at::Tensor expected = mat({1, 1, 0, 5, 0, 0, 0, 0}, 2, 4);
  EXPECT_TRUE(at::equal(braq(W, M, 1), expected));
}

TEST(BinarizeBraq, Order2HandComputed) {
  // Plane 1: (1.5,1.5,3,4.5). Residual (-0.5,0.5,0,1.5): mean 0.375, deviations
  // (-0.875,0.125,-0.375,1.125), alpha 0.625 -> plane 2 = (-0.25,1,-0.25,1).
  const at::Tensor W = mat({1, 2, 3, 6}, 1, 4);
  EXPECT_TRUE(at::equal(braq(W, full_mask(W), 2), mat({1.25, 2.5, 2.75, 5.5}, 1, 4)));
}

// ---- ARB (§10) -------------------------------------------------------------------------------

TEST(BinarizeArb, Order1ReproducesBalancedAlphaSignPlusMean) {
  // W = alpha B + mu with as many +1 as -1 per row: R_1 already recovers it and ARB keeps it.
  at::manual_seed(1);
  const at::Tensor alpha = at::rand({6, 1}) + 0.5, mu = at::randn({6, 1});
  const at::Tensor B = at::tensor(std::vector<float>{1, -1, 1, 1, -1, -1, 1, -1}).repeat({6, 1});
  std::vector<at::Tensor> rows;
  for (int r = 0; r < 6; ++r) rows.push_back(B[r].index_select(0, at::randperm(8)));
  const at::Tensor W = alpha * at::stack(rows) + mu;
  for (int iters : {0, 1, 15}) EXPECT_TRUE(at::allclose(arb(W, full_mask(W), 1, iters), W, 1e-5, 1e-5)) << iters;
}

TEST(BinarizeArb, Order1HandIterationAndConvergenceToUnbalancedForm) {
  // W = 2 (1,1,1,-1) + 1. Init: mean 2, alpha 1.5 -> (3.5,3.5,3.5,0.5). Iteration 1:
  // mu = 2 + mean(-.5,-.5,-.5,-1.5) = 1.25; alpha = sum B (W - 1.25) / 4 = 7.5/4 = 1.875.
  // The fixed point is alpha = 2, mu = 1 (contraction 1/4 per iteration).
  const at::Tensor W = mat({3, 3, 3, -1}, 1, 4);
  EXPECT_TRUE(at::allclose(arb(W, full_mask(W), 1, 0), mat({3.5, 3.5, 3.5, 0.5}, 1, 4)));
  EXPECT_TRUE(at::allclose(arb(W, full_mask(W), 1, 1), mat({3.125, 3.125, 3.125, -0.625}, 1, 4), 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(arb(W, full_mask(W), 1, 15), W, 1e-5, 1e-5));
}

TEST(BinarizeArb, Order1AlphaIsLeastSquaresForThePreviousSigns) {
  at::manual_seed(2);
  const at::Tensor W = at::randn({6, 10});
  const at::Tensor M = at::rand({6, 10}) < 0.7;
  const ArbResult r = arb_params(W, M, 1, 1);
  // Signs of the initialisation (R_1): B0 = sgn0(W - rowmean_M W) on M.
  const at::Tensor Mf = maskf(M);
  const at::Tensor mean0 = (W * Mf).sum(1, true) / Mf.sum(1, true);
  const at::Tensor B0 = (W - mean0).sign() * Mf;
  const at::Tensor Wd = W.to(at::kDouble).contiguous(), Bd = B0.to(at::kDouble).contiguous();
  const at::Tensor Md = Mf.to(at::kDouble).contiguous();
  for (int64_t row = 0; row < 6; ++row) {
    const double mu = r.mu[row].item<double>();
    const double *w = Wd[row].data_ptr<double>(), *b = Bd[row].data_ptr<double>(), *mk = Md[row].data_ptr<double>();
    // Brute force over a fine grid of alpha for the objective with the *previous* signs.
    double best = std::numeric_limits<double>::infinity(), arg = 0;
    for (int k = -30000; k <= 30000; ++k) {
      const double a = k * 1e-4;
      double f = 0;
      for (int64_t j = 0; j < 10; ++j) f += mk[j] * (w[j] - mu - a * b[j]) * (w[j] - mu - a * b[j]);
      if (f < best) best = f, arg = a;
    }
    EXPECT_NEAR(r.planes[0].alpha[row].item<double>(), arg, 2e-4) << "row " << row;
  }
  // The returned signs are the new ones, sgn0(W - mu) on M, and W_hat pairs them with that alpha.
  EXPECT_TRUE(at::equal(r.planes[0].B, (W - r.mu.unsqueeze(1)).sign() * Mf));
  EXPECT_TRUE(at::allclose(r.W_hat, (r.planes[0].alpha.unsqueeze(1) * r.planes[0].B + r.mu.unsqueeze(1)) * Mf));
}

TEST(BinarizeArb, Order2JointSignPicksTheNearestCandidate) {
  at::manual_seed(3);
  const at::Tensor W = at::randn({8, 16});
  const at::Tensor M = at::rand({8, 16}) < 0.8;
  const ArbResult r = arb_params(W, M, 2, 3);
  const at::Tensor D = (W - r.mu.unsqueeze(1)).to(at::kDouble);
  const at::Tensor a1 = r.planes[0].alpha.unsqueeze(1).to(at::kDouble), a2 = r.planes[1].alpha.unsqueeze(1).to(at::kDouble);
  const at::Tensor chosen = (D - a1 * r.planes[0].B - a2 * r.planes[1].B).abs();
  at::Tensor nearest = at::full_like(D, std::numeric_limits<double>::infinity());
  for (int s1 : {-1, 1})
    for (int s2 : {-1, 1}) nearest = at::minimum(nearest, (D - s1 * a1 - s2 * a2).abs());
  EXPECT_LE(((chosen - nearest) * maskf(M)).max().item<double>(), 1e-6);
  // Signs are +-1 on M and 0 outside.
  for (const ArbPlane& p : r.planes) {
    EXPECT_TRUE(at::equal(p.B.abs(), maskf(M)));
  }
}

TEST(BinarizeArb, JointSignTiesGoToTheFirstCandidate) {
  // Candidates in order (-k1-k2, -k1+k2, +k1-k2, +k1+k2).
  const at::Tensor one = at::ones({1, 1});
  // k1 = k2 = 1, D = 0: (-,+) and (+,-) tie at distance 0 -> (-,+).
  auto B = ob1q::quant::detail::joint_sign(at::zeros({1, 1}), one, one, one);
  EXPECT_EQ(B[0].item<float>(), -1);
  EXPECT_EQ(B[1].item<float>(), 1);
  // k1 = 1, k2 = 0, D = 1: (+,-) and (+,+) tie -> (+,-); D = -1: (-,-) and (-,+) tie -> (-,-).
  B = ob1q::quant::detail::joint_sign(one, one, at::zeros({1, 1}), one);
  EXPECT_EQ(B[0].item<float>(), 1);
  EXPECT_EQ(B[1].item<float>(), -1);
  B = ob1q::quant::detail::joint_sign(-one, one, at::zeros({1, 1}), one);
  EXPECT_EQ(B[0].item<float>(), -1);
  EXPECT_EQ(B[1].item<float>(), -1);
}

TEST(BinarizeArb, IterationsDoNotIncreaseTheError) {
  at::manual_seed(4);
  const at::Tensor W = at::randn({32, 40});
  const at::Tensor M = at::rand({32, 40}) < 0.6;
  for (int order : {1, 2}) {
    std::vector<double> e;
    for (int iters = 0; iters <= 8; ++iters) e.push_back(masked_sse(W, arb(W, M, order, iters), M));
    expect_non_increasing(e);
    EXPECT_LT(e.back(), e.front()) << "order " << order;
  }
}

// ---- ARB-X (§11) -----------------------------------------------------------------------------

namespace {
// Per-row objective of one ARB-X group, f(w_hat) = (w - w_hat) S (w - w_hat)^T, in double.
double row_objective(const at::Tensor& w, const at::Tensor& w_hat, const at::Tensor& S) {
  const at::Tensor e = (w - w_hat).to(at::kDouble).view({1, -1});
  return e.mm(S.to(at::kDouble)).mm(e.t()).item<double>();
}
// Central finite difference of f along direction dir at w_hat (exact for a quadratic), divided by
// the curvature along dir: the size of the step that would still improve f.
double relative_gradient(const at::Tensor& w, const at::Tensor& w_hat, const at::Tensor& dir, const at::Tensor& S) {
  const double h = 1e-3;
  const at::Tensor wd = w_hat.to(at::kDouble), d = dir.to(at::kDouble);
  const double fp = row_objective(w, wd + h * d, S), fm = row_objective(w, wd - h * d, S);
  const double f0 = row_objective(w, wd, S);
  const double grad = (fp - fm) / (2 * h), curv = (fp - 2 * f0 + fm) / (h * h);
  return std::abs(grad) / std::max(curv, 1e-12);
}
}  // namespace

TEST(BinarizeArbX, CalibrationStepsSolveTheirOneDimensionalQuadratics) {
  at::manual_seed(5);
  const int64_t m = 6, beta = 24;
  const at::Tensor W = at::randn({m, beta});
  const at::Tensor M = at::rand({m, beta}) < 0.7;
  const at::Tensor S = random_gram(beta);
  const at::Tensor Mf = maskf(M), w = W * Mf;
  for (int order : {1, 2}) {
    const ArbResult prev = arb_x_params(W, M, order, S, 15, 2);
    const ArbResult cur = arb_x_params(W, M, order, S, 15, 3);
    // B is frozen at ARB's signs.
    const ArbResult base = arb_params(W, M, order, 15);
    for (int o = 0; o < order; ++o) EXPECT_TRUE(at::equal(cur.planes[o].B, base.planes[o].B));
    for (int64_t r = 0; r < m; ++r) {
      const at::Tensor mr = Mf[r];
      auto plane = [&](const ArbResult& x, int o) { return x.planes[o].alpha[r] * x.planes[o].B[r]; };
      // The last update (alpha of the last plane) is stationary at the returned state.
      EXPECT_LT(relative_gradient(w[r], cur.W_hat[r], cur.planes[order - 1].B[r], S), 1e-4) << "row " << r;
      // mu of this iteration minimises the objective given the previous iteration's alphas.
      at::Tensor rec = cur.mu[r] * mr;
      for (int o = 0; o < order; ++o) rec = rec + plane(prev, o);
      EXPECT_LT(relative_gradient(w[r], rec, mr, S), 1e-4) << "mu, row " << r;
      if (order == 2) {  // alpha1 given the new mu and the previous alpha2
        const at::Tensor rec1 = cur.mu[r] * mr + plane(cur, 0) + plane(prev, 1);
        EXPECT_LT(relative_gradient(w[r], rec1, cur.planes[0].B[r], S), 1e-4) << "alpha1, row " << r;
      }
    }
  }
}

TEST(BinarizeArbX, CalibrationDoesNotIncreaseTheGramWeightedError) {
  at::manual_seed(6);
  const at::Tensor W = at::randn({16, 32});
  const at::Tensor M = at::rand({16, 32}) < 0.6;
  const at::Tensor S = random_gram(32);
  for (int order : {1, 2}) {
    std::vector<double> e;
    for (int iters2 = 0; iters2 <= 6; ++iters2) e.push_back(gram_error(W, arb_x(W, M, order, S, 15, iters2), M, S));
    expect_non_increasing(e, 1e-5);
    EXPECT_LT(e.back(), e.front());
    // iters2 = 0 is ARB itself.
    EXPECT_TRUE(at::equal(arb_x(W, M, order, S, 15, 0), arb(W, M, order, 15)));
  }
}

// ---- ARB-RC (§12) ----------------------------------------------------------------------------

TEST(BinarizeArbRc, Order1HandInitialisation) {
  // a = (1.5, 3.5); c = (mean(1/1.5, 3/3.5), mean(2/1.5, 4/3.5)); B = sgn0(W). The zero row has
  // a = 0: it is left out of the column means and reconstructs to 0 (no NaN).
  const at::Tensor W = mat({1, -2, 3, 4, 0, 0}, 3, 2);
  const double c0 = (1 / 1.5 + 3 / 3.5) / 2, c1 = (2 / 1.5 + 4 / 3.5) / 2;
  const at::Tensor expected = mat({float(1.5 * c0), float(-1.5 * c1), float(3.5 * c0), float(3.5 * c1), 0, 0}, 3, 2);
  const RcResult r = arb_rc(W, full_mask(W), 1, 0);
  EXPECT_TRUE(at::allclose(r.W_hat, expected, 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(r.planes[0].a, at::tensor(std::vector<float>{1.5, 3.5, 0})));
  EXPECT_TRUE(at::equal(r.planes[0].B, W.sign()));
}

TEST(BinarizeArbRc, Order1ReproducesSignedRankOneSignForm) {
  // W = (a c^T) * B with a, c of both signs: the init recovers |a c| and sgn0(W) restores the
  // sign, and the least-squares iterations stay there.
  at::manual_seed(7);
  const at::Tensor a = at::randn({12, 1}), c = at::randn({1, 20});
  const at::Tensor B = at::where(at::rand({12, 20}) < 0.5, at::ones({12, 20}), -at::ones({12, 20}));
  const at::Tensor W = a * c * B;
  for (int iters : {0, 1, 15}) EXPECT_TRUE(at::allclose(arb_rc(W, full_mask(W), 1, iters).W_hat, W, 1e-4, 1e-5)) << iters;
}

TEST(BinarizeArbRc, Order1AlternatingLeastSquaresIsMonotoneAndKeepsSigns) {
  at::manual_seed(8);
  const at::Tensor W = at::randn({32, 40});
  const at::Tensor M = at::rand({32, 40}) < 0.6;
  std::vector<double> e;
  for (int iters = 0; iters <= 8; ++iters) {
    const RcResult r = arb_rc(W, M, 1, iters);
    e.push_back(masked_sse(W, r.W_hat, M));
    EXPECT_TRUE(at::equal(r.planes[0].B, W.sign() * maskf(M))) << "order-1 B must never change";
    expect_zero_outside(r.W_hat, M);
  }
  expect_non_increasing(e);
  EXPECT_LT(e.back(), e.front());
}

TEST(BinarizeArbRc, Order1ColumnScaleIsLeastSquaresGivenRowScale) {
  at::manual_seed(9);
  const at::Tensor W = at::randn({10, 12});
  const at::Tensor M = at::rand({10, 12}) < 0.7;
  const RcPlane p = arb_rc(W, M, 1, 2).planes[0];
  // Normal equation of c_j: sum_r (a_r B_rj) (W_rj - a_r c_j B_rj) = 0 on M.
  const at::Tensor Q = (p.a.unsqueeze(1) * p.B).to(at::kDouble);
  const at::Tensor resid = (W * maskf(M)).to(at::kDouble) - Q * p.c.unsqueeze(0).to(at::kDouble);
  const at::Tensor normal = (Q * resid).sum(0) / (Q.square().sum(0) + 1e-12);
  EXPECT_LT(normal.abs().max().item<double>(), 1e-5);
}

TEST(BinarizeArbRc, Order2JointSignPicksTheNearestSignedCandidate) {
  at::manual_seed(10);
  const at::Tensor W = at::randn({16, 24});
  const at::Tensor M = at::rand({16, 24}) < 0.8;
  const RcResult r = arb_rc(W, M, 2, 2);
  const at::Tensor k1 = (r.planes[0].a.unsqueeze(1) * r.planes[0].c.unsqueeze(0)).to(at::kDouble);
  const at::Tensor k2 = (r.planes[1].a.unsqueeze(1) * r.planes[1].c.unsqueeze(0)).to(at::kDouble);
  const at::Tensor Wd = W.to(at::kDouble);
  const at::Tensor chosen = (Wd - k1 * r.planes[0].B - k2 * r.planes[1].B).abs();
  at::Tensor nearest = at::full_like(Wd, std::numeric_limits<double>::infinity());
  for (int s1 : {-1, 1})
    for (int s2 : {-1, 1}) nearest = at::minimum(nearest, (Wd - s1 * k1 - s2 * k2).abs());
  EXPECT_LE(((chosen - nearest) * maskf(M)).max().item<double>(), 1e-6);
  expect_zero_outside(r.W_hat, M);
}

TEST(BinarizeArbRc, Order2IterationsDoNotIncreaseTheError) {
  at::manual_seed(11);
  const at::Tensor W = at::randn({32, 40});
  const at::Tensor M = at::rand({32, 40}) < 0.6;
  std::vector<double> e;
  for (int iters = 0; iters <= 6; ++iters) e.push_back(masked_sse(W, arb_rc(W, M, 2, iters).W_hat, M));
  expect_non_increasing(e);
  EXPECT_LT(e.back(), e.front());
}

// ---- all binarizers --------------------------------------------------------------------------

TEST(BinarizeAll, ZeroOutsideTheMaskAndFiniteOnEmptyRowsAndColumns) {
  at::manual_seed(12);
  at::Tensor W = at::randn({8, 12});
  W[3].zero_();  // an all-zero row inside the mask
  at::Tensor M = at::rand({8, 12}) < 0.6;
  M[5].fill_(false);         // a row with no entry
  M.select(1, 7).fill_(false);  // a column with no entry
  const at::Tensor S = random_gram(12);
  for (int order : {1, 2}) {
    const std::vector<at::Tensor> outs = {braq(W, M, order), arb(W, M, order, 15), arb_x(W, M, order, S, 15, 15),
                                          arb_rc(W, M, order, 15).W_hat};
    for (const at::Tensor& W_hat : outs) {
      EXPECT_TRUE(W_hat.isfinite().all().item<bool>());
      expect_zero_outside(W_hat, M);
      EXPECT_EQ(W_hat[3].abs().sum().item<float>(), 0.0f);
    }
  }
}
