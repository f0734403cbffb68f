// OA block refinement (methods.md §15-§18): the checks of §18 plus the block-level guarantees
// (not worse than its ARB-RC initialisation, Q_J structure), the schedule and option handling.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../../src/quant/oa_detail.hpp"  // white-box tests of the closed forms and gates
#include "ob1q/common/error.hpp"
#include "ob1q/quant/oa.hpp"

using namespace ob1q::quant;
using namespace ob1q::quant::detail;

namespace {

// A calibration problem: correlated, partly outlying fp activations X, quantized-stream
// activations X_hat = X + noise, and the two Grams of §15 (1/n normalised).
struct Problem {
  at::Tensor W, S_hat, C, Udiag;
  at::Tensor S_fp;  // X^T X / n: the loss constant <W S_fp, W>
};

Problem random_problem(int64_t m, int64_t beta, uint64_t seed, double noise = 0.3) {
  at::manual_seed(seed);
  const int64_t n = 4 * beta;
  const at::Tensor mix = at::eye(beta) + 0.4 * at::randn({beta, beta}) / std::sqrt(static_cast<double>(beta));
  const at::Tensor channel_scale = at::exp(0.7 * at::randn({1, beta}));
  const at::Tensor X = at::randn({n, beta}).mm(mix) * channel_scale;
  const at::Tensor X_hat = X + noise * at::randn({n, beta}) * channel_scale;
  Problem p;
  p.S_hat = X_hat.t().mm(X_hat) / n;
  p.C = X.t().mm(X_hat) / n;
  p.S_fp = X.t().mm(X) / n;
  p.W = 0.02 * at::randn({m, beta}) * at::exp(0.5 * at::randn({1, beta}));
  // Udiag = diag of the upper Cholesky factor of the damped H^-1 (H = 2 S_hat), as the driver has it.
  at::Tensor H = 2 * p.S_hat;
  H = H + 0.01 * at::diag(H).mean() * at::eye(beta);
  p.Udiag = at::diag(at::linalg_cholesky(at::linalg_inv(H)).t()).contiguous();
  return p;
}

BlockStructure single_group(const at::Tensor& mask, int order = 1) {
  BlockStructure s;
  s.groups.push_back({"N_hi", mask, order});
  return s;
}

// CGB-like structure without the search: the first `sal` columns are salient, every zone split
// at the median magnitude. Groups S_hi, S_lo (order 2), N_hi, N_lo (order 1).
BlockStructure manual_cgb(const at::Tensor& W, int64_t sal) {
  const at::Tensor salient = (at::arange(W.size(1)) < sal).unsqueeze(0).expand_as(W);
  const at::Tensor hi = W.abs() > W.abs().median();
  BlockStructure s;
  s.groups = {{"S_hi", salient & hi, 2}, {"S_lo", salient & ~hi, 2}, {"N_hi", ~salient & hi, 1},
              {"N_lo", ~salient & ~hi, 1}};
  s.salient_columns = static_cast<int>(sal);
  return s;
}

OaOptions amp_off() {
  OaOptions o;
  o.amp = "off";
  return o;
}

// The plane loss -2<T, W_hat> + <W_hat S, W_hat> in fp64 as a differentiable function.
at::Tensor plane_loss(const at::Tensor& s_out, const at::Tensor& s_in, const at::Tensor& BG, const at::Tensor& T,
                      const at::Tensor& S) {
  const at::Tensor Wh = s_out.unsqueeze(1) * BG * s_in.unsqueeze(0);
  return -2 * (T * Wh).sum() + (Wh.mm(S) * Wh).sum();
}

// d plane_loss / d (the argument `which`: 0 s_out, 1 s_in, 2 BG) at the plane's values, fp64.
at::Tensor loss_grad(const OaPlane& p, const OaPlaneProblem& q, int which) {
  std::vector<at::Tensor> x = {p.s_out.to(at::kDouble), p.s_in.to(at::kDouble), p.BG.to(at::kDouble)};
  x[which].requires_grad_(true);
  plane_loss(x[0], x[1], x[2], q.T.to(at::kDouble), q.S.to(at::kDouble)).backward();
  return x[which].grad();
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

}  // namespace

// ---- §18 check 1: S_hat = I, C = I reduces to ARB-RC's order-1 updates -----------------------

TEST(OaReduction, IdentityGramsGiveArbRcOrder1Steps) {
  at::manual_seed(1);
  const int64_t m = 24, beta = 16;
  const at::Tensor W = at::randn({m, beta});
  const at::Tensor I = at::eye(beta);
  // One iteration, k = 1: s_in step, s_out step, one B step on all channels; plain init.
  OaOptions o = amp_off();
  o.init = "plain";
  o.iters = 1;
  o.k = 1;
  o.bsteps = 1;
  o.brows = "all-jacobi";
  OaBlockStats stats;
  const at::Tensor Q = oa_refine_block(W, I, I, single_group(at::ones_like(W, at::kBool)), o, &stats);

  // §12 by hand: init a = rowmean|W|, c = colmean|W / a|, B = sgn(W); then the column scale
  // (= s_in) given a, then the row scale (= s_out) given the new c.
  const at::Tensor B = W.sign();
  const at::Tensor a0 = W.abs().mean(1, true);
  const at::Tensor c0 = (W.abs() / a0).mean(0, true);
  (void)c0;  // s_in's first update does not depend on it (S_hat = I decouples the channels)
  const at::Tensor c1 = ((a0 * B) * W).sum(0, true) / (a0 * B).square().sum(0, true);
  const at::Tensor a1 = ((c1 * B) * W).sum(1, true) / (c1 * B).square().sum(1, true);
  ASSERT_EQ(stats.planes.size(), 1u);
  EXPECT_TRUE(at::allclose(stats.planes[0].s_in, c1.squeeze(0), 1e-5, 1e-7));
  EXPECT_TRUE(at::allclose(stats.planes[0].s_out, a1.squeeze(1), 1e-5, 1e-7));
  EXPECT_TRUE(at::equal(stats.planes[0].B, B));
  EXPECT_TRUE(at::allclose(Q, a1 * c1 * B, 1e-5, 1e-7));

  // The B step alone, from scrambled signs: B* = sgn(W) for positive scales.
  OaPlane p{a1.squeeze(1), c1.squeeze(0), at::where(at::rand({m, beta}) < 0.5, -1.0f, 1.0f), at::ones_like(W),
            at::ones({beta}, at::kBool)};
  OaPlaneProblem q{W, I, I - at::diag(at::diag(I)), at::Tensor(), at::Tensor()};
  oa_step_b(p, q, OaGate::Off, OaBForm::Exact, OaBRows::AllJacobi);
  EXPECT_TRUE(at::equal(p.BG, B));
}

// ---- §18 check 2: AMP off -> the block loss never increases ----------------------------------

TEST(OaMonotone, BlockLossNonIncreasingAfterEveryStep) {
  const Problem pr = random_problem(96, 64, 2);
  for (const char* rows : {"all-gauss-seidel", "paper-argmax", "greedy-gain"}) {
    OaOptions o = amp_off();
    o.brows = rows;
    o.sweeps = 2;
    OaBlockStats stats;
    stats.record_steps = true;
    oa_refine_block(pr.W, pr.S_hat, pr.C, manual_cgb(pr.W, 10), o, &stats);
    ASSERT_EQ(stats.steps.size(), 2u * 6 * (15 + 3 + 3 * 2)) << rows;
    // W has no exact zeros, so the OA start is exactly ARB-RC's reconstruction.
    double prev = stats.loss_arbrc;
    int b_steps = 0;
    for (const OaBlockStats::Step& s : stats.steps) {
      EXPECT_LE(s.loss, prev + 1e-6 * std::abs(prev)) << rows << ": plane " << s.plane << " sweep " << s.sweep
                                                      << " iter " << s.iter << " step " << s.kind;
      b_steps += s.kind == 'b';
      prev = s.loss;
    }
    EXPECT_EQ(b_steps, 2 * 6 * 6);
    EXPECT_NEAR(stats.loss_oa, prev, 1e-6 * std::abs(prev));
    EXPECT_LT(stats.loss_oa, stats.loss_arbrc);
  }
}

// ---- §18 check 3: closed forms vs autograd ---------------------------------------------------

TEST(OaClosedForms, StationaryScalesAndGdIsHalfTheGradientWithoutSelfTerm) {
  at::manual_seed(3);
  const int64_t m = 40, beta = 24;
  const Problem pr = random_problem(m, beta, 3);
  at::Tensor G = (at::rand({m, beta}) < 0.7).to(at::kFloat);
  G.select(1, 5).zero_();  // an inactive channel: its s_in must stay put
  const at::Tensor B = at::where(at::rand({m, beta}) < 0.5, -1.0f, 1.0f);
  OaPlane p{at::rand({m}) + 0.5, at::rand({beta}) + 0.5, B * G, G, G.amax(0) > 0};
  const at::Tensor T = at::randn({m, beta});
  const at::Tensor S = pr.S_hat;
  OaPlaneProblem q{T, S, S - at::diag(at::diag(S)), at::Tensor(), at::Tensor()};

  const double g_out0 = max_abs(loss_grad(p, q, 0));
  oa_step_s_out(p, q, OaGate::Off);
  EXPECT_LT(max_abs(loss_grad(p, q, 0)), 1e-5 * g_out0);

  const double s_in_5 = p.s_in[5].item<double>();
  const at::Tensor active = p.active;
  const double g_in0 = max_abs(loss_grad(p, q, 1).masked_select(active));
  oa_step_s_in(p, q, OaGate::Off, OaSolver::Gelsd);
  EXPECT_LT(max_abs(loss_grad(p, q, 1).masked_select(active)), 1e-4 * g_in0);
  EXPECT_EQ(p.s_in[5].item<double>(), s_in_5);

  OaPlane p2 = p;
  p2.s_in = at::rand({beta}) + 0.5;
  oa_step_s_in(p2, q, OaGate::Off, OaSolver::Pinv);
  EXPECT_TRUE(at::allclose(p2.s_in.masked_select(active), p.s_in.masked_select(active), 1e-4, 1e-6))
      << "pinv and gelsd disagree on a regular system";
  OaPlane pc = p;
  pc.s_in = at::rand({beta}) + 0.5;
  const double pc_s_in_5 = pc.s_in[5].item<double>();
  oa_step_s_in(pc, q, OaGate::Off, OaSolver::Cholesky);
  EXPECT_TRUE(at::allclose(pc.s_in.masked_select(active), p.s_in.masked_select(active), 1e-4, 1e-6))
      << "the on-device Cholesky solve and gelsd disagree on a regular system";
  EXPECT_EQ(pc.s_in[5].item<double>(), pc_s_in_5) << "an inactive channel keeps its scale";

  // Gd = 1/2 dL/dB - s_out^2 s_in^2 S_ii B on G.
  const at::Tensor half_grad = 0.5 * loss_grad(p, q, 2);
  const at::Tensor self = (p.s_out.square().unsqueeze(1) * (p.s_in.square() * at::diag(S)).unsqueeze(0) * p.BG)
                              .to(at::kDouble);
  const at::Tensor expected = ((half_grad - self) * G.to(at::kDouble)).to(at::kFloat);
  const at::Tensor Gd = oa_gd(p, q);
  EXPECT_TRUE(at::allclose(Gd, expected, 1e-4, 1e-5 * max_abs(expected)));
  // And B* = -sign(Gd) minimises the loss over any single channel: brute-force one channel.
  const at::Tensor B_star = oa_b_star(p.BG, Gd);
  const int64_t i = 3;
  OaPlane p3 = p;
  p3.BG = p.BG.clone();
  p3.BG.select(1, i).copy_(B_star.select(1, i));
  const double L_star = plane_loss(p3.s_out, p3.s_in, p3.BG, T, S).item<double>();
  for (int trial = 0; trial < 20; ++trial) {
    OaPlane pt = p;
    pt.BG = p.BG.clone();
    pt.BG.select(1, i).copy_(at::where(at::rand({m}) < 0.5, -1.0f, 1.0f) * G.select(1, i));
    EXPECT_LE(L_star, plane_loss(pt.s_out, pt.s_in, pt.BG, T, S).item<double>() + 1e-5 * std::abs(L_star));
  }
}

// ---- §18 check 4: the heaviside s_out gate is all-ones for one group with positive scales ----

TEST(OaGates, HeavisideSOutGateAllOnesForOneGroupWithPositiveScales) {
  at::manual_seed(4);
  const int64_t m = 32, beta = 20;
  const at::Tensor W = at::randn({m, beta});
  const at::Tensor T = W.mm(random_problem(m, beta, 4).C);
  const at::Tensor G = at::ones_like(W);
  OaPlane p{at::rand({m}) + 0.1, at::rand({beta}) + 0.1, W.sign(), G, at::ones({beta}, at::kBool)};
  OaPlaneProblem q;
  q.M = T.t().mm(T);
  q.R_rest = at::zeros_like(W);  // a single group: R = W_hat M
  const at::Tensor R = oa_amp_r(p, q);
  const OaGates g = oa_gates(p, R);
  EXPECT_TRUE((g.g_out >= 0).all().item<bool>());
  const at::Tensor s_out_star = at::randn({m});
  EXPECT_TRUE(at::equal(oa_gate_mask(OaGate::Heaviside, p.s_out, s_out_star, g.g_out), at::ones({m})));
  // The other two facts of §17: g_in_i = (W_hat^T W_hat M)_ii / s_in_i, sign(g_B) = sign(R).
  const at::Tensor Wh = p.reconstruction();
  EXPECT_TRUE(at::allclose(g.g_in, at::diag(Wh.t().mm(Wh).mm(q.M)) / p.s_in, 1e-4, 1e-3));
  EXPECT_TRUE(at::equal(g.g_B.sign(), R.sign()));
}

TEST(OaGates, MaskModesAndMix) {
  const at::Tensor theta = at::tensor({1.0f, 1.0f, 1.0f, 1.0f});
  const at::Tensor star = at::tensor({2.0f, 0.0f, 2.0f, 0.0f});
  const at::Tensor g = at::tensor({1.0f, 1.0f, -1.0f, 0.0f});
  auto mixed = [&](OaGate mode) { return oa_mix(theta, star, oa_gate_mask(mode, theta, star, g)); };
  EXPECT_TRUE(at::equal(mixed(OaGate::Off), star));
  EXPECT_TRUE(at::equal(mixed(OaGate::Heaviside), at::tensor({2.0f, 0.0f, 1.0f, 1.0f})));
  EXPECT_TRUE(at::equal(mixed(OaGate::Direction), at::tensor({2.0f, 1.0f, 1.0f, 0.0f})));
  EXPECT_TRUE(at::equal(mixed(OaGate::Ternary), at::tensor({2.0f, 0.0f, 0.0f, 1.0f})));  // 2 theta - theta*
}

// ---- §18 check 5: the activation objective with X = X_hat is the output objective ------------

TEST(OaObjective, ActWithXEqualToXhatMatchesOutput) {
  at::manual_seed(5);
  const int64_t n = 256, beta = 32;
  const at::Tensor X = at::randn({n, beta}).mm(at::eye(beta) + 0.3 * at::randn({beta, beta}));
  const at::Tensor X_hat = X.clone();
  const at::Tensor S_hat = X_hat.t().mm(X_hat) / n;
  const at::Tensor C = X.t().mm(X_hat) / n;  // output objective's cross Gram
  const at::Tensor W = at::randn({48, beta});
  const BlockStructure st = manual_cgb(W, 6);
  const OaOptions o;
  const at::Tensor Q_out = oa_refine_block(W, S_hat, C, st, o);
  const at::Tensor Q_act = oa_refine_block(W, S_hat, S_hat, st, o);  // --oa-objective act: C := S_hat
  EXPECT_TRUE(at::equal(Q_out, Q_act));
}

// ---- block-level guarantees -----------------------------------------------------------------

TEST(OaBlock, DefaultRefinementNotWorseThanArbRcOnCorrelatedProblems) {
  for (uint64_t seed = 10; seed < 13; ++seed) {
    const Problem pr = random_problem(256, 128, seed);
    const BlockStructure st = search_block(pr.W, pr.Udiag, SearchOptions{});
    ASSERT_EQ(st.groups.size(), 4u);
    OaBlockStats stats;
    const at::Tensor Q = oa_refine_block(pr.W, pr.S_hat, pr.C, st, OaOptions{}, &stats);
    EXPECT_LE(stats.loss_oa, stats.loss_arbrc) << "seed " << seed;
    EXPECT_DOUBLE_EQ(stats.loss_oa, oa_block_loss(pr.W, pr.S_hat, pr.C, Q));
  }
}

TEST(OaBlock, QjIsThePlaneSumAndCoversTheBlock) {
  const Problem pr = random_problem(64, 64, 6);
  const BlockStructure st = manual_cgb(pr.W, 8);
  OaBlockStats stats;
  const at::Tensor Q = oa_refine_block(pr.W, pr.S_hat, pr.C, st, OaOptions{}, &stats);
  ASSERT_EQ(stats.planes.size(), 6u);
  at::Tensor sum = at::zeros_like(Q);
  for (const OaBlockStats::Plane& p : stats.planes) {
    const at::Tensor G = st.groups[p.group].mask;
    EXPECT_TRUE((p.B.masked_select(G).abs() == 1).all().item<bool>());
    EXPECT_TRUE((p.B.masked_select(~G) == 0).all().item<bool>());
    sum += p.s_out.unsqueeze(1) * p.B * p.s_in.unsqueeze(0);
  }
  EXPECT_TRUE(at::allclose(Q, sum, 1e-6, 1e-9));
  EXPECT_TRUE((Q != 0).all().item<bool>()) << "every entry of the block is reconstructed";
}

TEST(OaBlock, ExactZeroWeightsAreTreatedAsPlusOne) {
  const Problem pr = random_problem(32, 64, 7);
  at::Tensor W = pr.W.clone();
  W.index_put_({0, 0}, 0.0f);
  OaBlockStats stats;
  const at::Tensor Q = oa_refine_block(W, pr.S_hat, pr.C, manual_cgb(W, 8), OaOptions{}, &stats);
  at::Tensor covered = at::zeros({32, 64});
  for (const OaBlockStats::Plane& p : stats.planes) covered += p.B.abs();
  EXPECT_TRUE((covered >= 1).all().item<bool>());
  EXPECT_NE(Q[0][0].item<float>(), 0.0f);
}

// ---- schedule and coupling -------------------------------------------------------------------

TEST(OaSchedule, SOutAndBStepsAtEveryKthIteration) {
  const Problem pr = random_problem(32, 64, 8);
  OaOptions o;
  o.order2 = "first";  // refines S_hi.1, S_lo.1, N_hi, N_lo
  OaBlockStats stats;
  stats.record_steps = true;
  oa_refine_block(pr.W, pr.S_hat, pr.C, manual_cgb(pr.W, 8), o, &stats);
  std::vector<int> planes, o_iters;
  for (const OaBlockStats::Step& s : stats.steps) {
    if (planes.empty() || planes.back() != s.plane) planes.push_back(s.plane);
    if (s.kind == 'o' && s.plane == 0) o_iters.push_back(s.iter);
  }
  EXPECT_EQ(planes, (std::vector<int>{0, 2, 4, 5}));
  EXPECT_EQ(o_iters, (std::vector<int>{4, 9, 14}));
  // The order-2 planes not refined keep their ARB-RC values: compare with order2 = skip.
  o.order2 = "skip";
  OaBlockStats skip;
  oa_refine_block(pr.W, pr.S_hat, pr.C, manual_cgb(pr.W, 8), o, &skip);
  EXPECT_TRUE(at::equal(skip.planes[1].s_out, stats.planes[1].s_out));
  EXPECT_TRUE(at::equal(skip.planes[3].B, stats.planes[3].B));
}

TEST(OaCoupling, IndependentEqualsJointForASingleGroup) {
  const Problem pr = random_problem(40, 32, 9);
  const BlockStructure st = single_group(at::ones_like(pr.W, at::kBool));
  OaOptions o;
  o.coupling = "independent";
  const at::Tensor Q_ind = oa_refine_block(pr.W, pr.S_hat, pr.C, st, o);
  o.coupling = "joint";
  EXPECT_TRUE(at::allclose(oa_refine_block(pr.W, pr.S_hat, pr.C, st, o), Q_ind, 1e-5, 1e-7));
}

// ---- options ---------------------------------------------------------------------------------

TEST(OaOptions, EveryVariantRunsAndStaysFinite) {
  const Problem pr = random_problem(48, 64, 11);
  const BlockStructure st = manual_cgb(pr.W, 8);
  std::vector<OaOptions> variants;
  auto add = [&](auto set) {
    OaOptions o;
    set(o);
    variants.push_back(o);
  };
  for (const char* v : {"heaviside", "direction", "ternary"}) add([&](OaOptions& o) { o.amp_mask = v; });
  for (const char* v : {"paper-argmax", "greedy-gain", "all-jacobi", "all-gauss-seidel"})
    add([&](OaOptions& o) { o.brows = v; });
  for (const char* v : {"signfixed-2p", "literal"}) add([&](OaOptions& o) { o.bform = v; });
  add([](OaOptions& o) { o.amp_gram = "quant"; });
  add([](OaOptions& o) { o.n_gram = "cross"; });
  add([](OaOptions& o) { o.cross_transpose = true; });
  add([](OaOptions& o) { o.coupling = "independent"; });
  add([](OaOptions& o) { o.init = "plain"; });
  add([](OaOptions& o) { o.solver = "pinv"; });
  add([](OaOptions& o) { o.k = 1; o.iters = 3; });
  add([](OaOptions& o) { o.iters = 0; });
  for (const OaOptions& o : variants) {
    const at::Tensor Q = oa_refine_block(pr.W, pr.S_hat, pr.C, st, o);
    EXPECT_TRUE(at::isfinite(Q).all().item<bool>());
  }
  // iters = 0 returns the initialisation itself.
  OaOptions none;
  none.iters = 0;
  OaBlockStats stats;
  oa_refine_block(pr.W, pr.S_hat, pr.C, st, none, &stats);
  EXPECT_NEAR(stats.loss_oa, stats.loss_arbrc, 1e-9 * std::abs(stats.loss_arbrc));
}

TEST(OaOptions, InvalidValuesNameTheFlag) {
  const Problem pr = random_problem(16, 16, 12);
  const BlockStructure st = single_group(at::ones_like(pr.W, at::kBool));
  auto expect_fail = [&](const std::string& flag, auto set) {
    OaOptions o;
    set(o);
    try {
      oa_refine_block(pr.W, pr.S_hat, pr.C, st, o);
      ADD_FAILURE() << flag << " accepted";
    } catch (const ob1q::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(flag + ":", 0), 0u) << e.what();
    }
  };
  expect_fail("--amp", [](OaOptions& o) { o.amp = "yes"; });
  expect_fail("--amp-mask", [](OaOptions& o) { o.amp_mask = "sign"; });
  expect_fail("--oa-amp-gram", [](OaOptions& o) { o.amp_gram = "x"; });
  expect_fail("--oa-n-gram", [](OaOptions& o) { o.n_gram = "x"; });
  expect_fail("--oa-bform", [](OaOptions& o) { o.bform = "x"; });
  expect_fail("--oa-brows", [](OaOptions& o) { o.brows = "x"; });
  expect_fail("--oa-coupling", [](OaOptions& o) { o.coupling = "x"; });
  expect_fail("--oa-order2", [](OaOptions& o) { o.order2 = "x"; });
  expect_fail("--oa-init", [](OaOptions& o) { o.init = "x"; });
  expect_fail("--oa-solver", [](OaOptions& o) { o.solver = "gels"; });
  expect_fail("--oa-iters", [](OaOptions& o) { o.iters = -1; });
  expect_fail("--oa-k", [](OaOptions& o) { o.k = 0; });
  expect_fail("--oa-bsteps", [](OaOptions& o) { o.bsteps = -1; });
  expect_fail("--oa-sweeps", [](OaOptions& o) { o.sweeps = 0; });
}

TEST(OaBlock, DeadChannelsStayFinite) {
  // A dead input channel (no activation: zero row and column in both Grams, W zeroed by the
  // driver) makes the s_in system singular; the rank-revealing solve must cope.
  Problem pr = random_problem(32, 64, 13);
  for (at::Tensor* G : {&pr.S_hat, &pr.C}) {
    G->select(0, 7).zero_();
    G->select(1, 7).zero_();
  }
  pr.W.select(1, 7).zero_();
  for (const char* solver : {"gelsd-cpu-f64", "pinv"}) {
    OaOptions o;
    o.solver = solver;
    OaBlockStats stats;
    const at::Tensor Q = oa_refine_block(pr.W, pr.S_hat, pr.C, manual_cgb(pr.W, 8), o, &stats);
    EXPECT_TRUE(at::isfinite(Q).all().item<bool>()) << solver;
    EXPECT_LE(stats.loss_oa, stats.loss_arbrc) << solver;
  }
}

// Timing (not part of the suite): --gtest_also_run_disabled_tests --gtest_filter='*OaTiming*'.
TEST(OaTiming, DISABLED_Blocks4096And11008By128) {
  for (int64_t m : {4096, 11008}) {
    const Problem pr = random_problem(m, 128, 20);
    const BlockStructure st = search_block(pr.W, pr.Udiag, SearchOptions{});
    OaOptions rc_only;
    rc_only.iters = 0;
    const auto t0 = std::chrono::steady_clock::now();
    oa_refine_block(pr.W, pr.S_hat, pr.C, st, rc_only);
    const auto t1 = std::chrono::steady_clock::now();
    OaBlockStats stats;
    oa_refine_block(pr.W, pr.S_hat, pr.C, st, OaOptions{}, &stats);
    const auto t2 = std::chrono::steady_clock::now();
    const auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    const double c = (pr.W.to(at::kDouble).mm(pr.S_fp.to(at::kDouble)) * pr.W.to(at::kDouble)).sum().item<double>();
    std::printf("m = %lld: ARB-RC init %.0f ms, init + OA %.0f ms; output error ARB-RC %.6g, OA %.6g\n",
                static_cast<long long>(m), ms(t0, t1), ms(t1, t2), c + stats.loss_arbrc, c + stats.loss_oa);
  }
  const at::Tensor A = random_problem(128, 128, 21).S_hat.to(at::kDouble);
  const at::Tensor v = at::randn({128, 1}, at::kDouble);
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < 100; ++r) at::linalg_lstsq(A, v, c10::nullopt, "gelsd");
  const auto t1 = std::chrono::steady_clock::now();
  std::printf("gelsd 128 x 128 fp64: %.2f ms\n", std::chrono::duration<double, std::milli>(t1 - t0).count() / 100);
}
