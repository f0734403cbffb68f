// Float32 break-point quantiles (methods.md §7), the per-block structure search (§6-§8)
// checked against brute-force versions built from the public binarizers, and block binarization
// (§8) on a random 256x128 block.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../../src/quant/binarize_detail.hpp"  // the two forms of the split errors
#include "ob1q/common/error.hpp"
#include "ob1q/quant/binarize.hpp"

using namespace ob1q::quant;

namespace {

at::Tensor floats(std::vector<float> v) { return at::tensor(v); }

std::vector<float> quantiles(std::vector<float> pool, std::vector<float> levels) {
  return quantiles_f32(floats(pool), floats(levels));
}

// Exact-arithmetic 'linear' quantile of the same pool at the same (float32) level.
double quantile_f64(std::vector<float> pool, float q) {
  std::sort(pool.begin(), pool.end());
  const double h = (pool.size() - 1) * double(q);
  const size_t i = size_t(std::floor(h));
  if (i + 1 >= pool.size()) return pool.back();
  return pool[i] + (h - i) * (double(pool[i + 1]) - pool[i]);
}

// A block with a few heavy columns (salient structure) and per-column U_jj in [0.5, 1.5].
struct Block {
  at::Tensor W, Udiag, S;
};
Block random_block(int64_t m, int64_t beta, uint64_t seed) {
  at::manual_seed(seed);
  Block b;
  b.W = at::randn({m, beta}) * (1 + 4 * (at::rand({1, beta}) < 0.1).to(at::kFloat));
  b.Udiag = at::rand({beta}) + 0.5;
  const at::Tensor X = at::randn({2 * beta, beta});
  b.S = X.t().mm(X) / (2 * beta);
  return b;
}

at::Tensor saliency(const Block& b) { return b.W.square() / b.Udiag.square().unsqueeze(0); }

const Family kFamilies[] = {Family::Billm, Family::Arb, Family::ArbX, Family::ArbRc};
const char* name_of(Family f) {
  switch (f) {
    case Family::Billm: return "billm";
    case Family::Arb: return "arb";
    case Family::ArbX: return "arb-x";
    case Family::ArbRc: return "arb-rc";
  }
  return "?";
}

SearchOptions options(Family f, bool cgb) {
  SearchOptions o;
  o.family = f;
  o.cgb = cgb;
  return o;
}

const MaskGroup& group(const BlockStructure& s, const std::string& name) {
  for (const MaskGroup& g : s.groups)
    if (g.name == name) return g;
  throw std::runtime_error("no group " + name);
}

// Columns whose every entry lies in the salient groups (orders 2).
at::Tensor salient_columns_of(const BlockStructure& s, int64_t m, int64_t beta) {
  at::Tensor count = at::zeros({beta}, at::kLong);
  for (const MaskGroup& g : s.groups)
    if (g.order == 2) count += g.mask.sum(0);
  EXPECT_TRUE(((count == 0) | (count == m)).all().item<bool>()) << "salient groups must be whole columns";
  return count == m;
}

double sse(const at::Tensor& A) { return A.to(at::kDouble).square().sum().item<double>(); }

}  // namespace

// ---- quantiles -------------------------------------------------------------------------------

TEST(QuantileF32, LevelsAreTheFloat32Grid) {
  const at::Tensor q = quantile_levels();
  ASSERT_EQ(q.numel(), 81);
  EXPECT_EQ(q.scalar_type(), at::kFloat);
  EXPECT_EQ(q[0].item<float>(), 0.1f);
  EXPECT_EQ(q[80].item<float>(), 0.9f);
  for (int k = 0; k < 81; ++k) EXPECT_NEAR(q[k].item<float>(), 0.10 + 0.01 * k, 1e-7);
}

TEST(QuantileF32, HandMadePools) {
  // 0..10 in any order: N-1 = 10. q = 0.5 -> h = 5 exactly; q = 0.1f -> 10 * 0.100000001 rounds
  // to h = 1 exactly; q = 0.25 -> h = 2.5, t = 0.5 takes the upper form 3 - 1 * 0.5.
  EXPECT_EQ(quantiles({7, 3, 10, 0, 5, 1, 9, 2, 8, 6, 4}, {0.5f, 0.1f, 0.25f, 0.9f}),
            (std::vector<float>{5, 1, 2.5f, 9}));
  // Two values: N-1 = 1, h = q.
  EXPECT_EQ(quantiles({2, 4}, {0.25f, 0.75f}), (std::vector<float>{2.5f, 3.5f}));
  // A single value, and q at the top of the range: the last value.
  EXPECT_EQ(quantiles({3}, {0.5f}), (std::vector<float>{3}));
  EXPECT_EQ(quantiles({1, 2, 3}, {1.0f}), (std::vector<float>{3}));
}

TEST(QuantileF32, Float32IndexRoundingMovesTheBoundary) {
  // N-1 = 100, q = 0.29f = 0.28999999165...: (N-1) q = 28.9999992 rounds to h = 29 in float32,
  // so the break point is v_29 itself; exact arithmetic interpolates just below it.
  std::vector<float> pool;
  for (int i = 0; i <= 100; ++i) pool.push_back(i <= 28 ? float(i) : float(1000 + i));
  EXPECT_EQ(quantiles(pool, {0.29f})[0], 1029.0f);
  EXPECT_NEAR(quantile_f64(pool, 0.29f), 1028.99917, 1e-4);
}

TEST(QuantileF32, TwoSidedFloat32Interpolation) {
  // Pools where a + d t and b - d (1 - t) differ in float32 (values found by an offline float32
  // emulation of NumPy's _lerp): t = 0.75 must use the upper form, t = 0.25 the lower one.
  const std::vector<float> upper = {0, 0.49543508887290955f, 1.8989821672439575f, 4, 5};
  EXPECT_EQ(quantiles(upper, {0.6875f})[0], 3.474745512008667f);  // a + d t = 3.4747457504...
  const std::vector<float> lower = {0, 0.05655136704444885f, 1.1697440147399902f, 4, 5};
  EXPECT_EQ(quantiles(lower, {0.5625f})[0], 1.8773080110549927f);  // b - d (1-t) = 1.8773078918...
}

TEST(QuantileF32, AgreesWithFloat64WithinFloat32Rounding) {
  at::manual_seed(21);
  const at::Tensor pool = at::randn({1000}).abs();
  std::vector<float> v(pool.data_ptr<float>(), pool.data_ptr<float>() + 1000);
  const at::Tensor levels = quantile_levels();
  const std::vector<float> p = quantiles_f32(pool, levels);
  ASSERT_EQ(p.size(), 81u);
  for (int k = 0; k < 81; ++k) {
    const double ref = quantile_f64(v, levels[k].item<float>());
    EXPECT_NEAR(p[k], ref, 4e-7 * std::max(1.0, std::abs(ref))) << "level " << k;
  }
}

// ---- structure search --------------------------------------------------------------------------

TEST(StructSearch, GroupsPartitionTheBlockInTheSpecifiedOrder) {
  const Block b = random_block(48, 128, 31);
  const at::Tensor scores = saliency(b).sum(0);
  const at::Tensor by_score = std::get<1>(scores.sort(0, /*descending=*/true));
  for (Family f : kFamilies)
    for (bool cgb : {false, true}) {
      SCOPED_TRACE(std::string(name_of(f)) + (cgb ? " +cgb" : ""));
      const BlockStructure s = search_block(b.W, b.Udiag, options(f, cgb), b.S);
      std::vector<std::string> names;
      std::vector<int> orders;
      at::Tensor cover = at::zeros({48, 128}, at::kLong);
      for (const MaskGroup& g : s.groups) {
        names.push_back(g.name);
        orders.push_back(g.order);
        ASSERT_EQ(g.mask.scalar_type(), at::kBool);
        cover += g.mask;
      }
      EXPECT_TRUE((cover == 1).all().item<bool>()) << "groups must be disjoint and cover the block";
      if (f == Family::Billm) {
        EXPECT_EQ(names, (std::vector<std::string>{"N_lo", "N_hi", "M_sal"}));
        EXPECT_EQ(orders, (std::vector<int>{1, 1, 2}));
      } else if (cgb) {
        EXPECT_EQ(names, (std::vector<std::string>{"S_hi", "S_lo", "N_hi", "N_lo"}));
        EXPECT_EQ(orders, (std::vector<int>{2, 2, 1, 1}));
      } else {
        EXPECT_EQ(names, (std::vector<std::string>{"M_sal", "N_hi", "N_lo"}));
        EXPECT_EQ(orders, (std::vector<int>{2, 1, 1}));
      }
      ASSERT_GE(s.salient_columns, 1);
      ASSERT_LE(s.salient_columns, 49);
      // The salient groups are exactly the i* best-scoring columns.
      const at::Tensor sal = salient_columns_of(s, 48, 128);
      at::Tensor expected = at::zeros({128}, at::kBool);
      expected.index_fill_(0, by_score.narrow(0, 0, s.salient_columns), true);
      EXPECT_TRUE(at::equal(sal, expected));
    }
}

TEST(StructSearch, ColumnCountIsTheFirstMinimumOfTheOrder2Error) {
  // Brute force with the public masked braq: e_i = mean (Psi - R2(S_i) - R2(N_i))^2.
  const Block b = random_block(40, 128, 32);
  const at::Tensor Psi = saliency(b);
  const at::Tensor top = std::get<1>(Psi.sum(0).sort(0, true)).narrow(0, 0, 50);
  double best = std::numeric_limits<double>::infinity();
  int arg = 0;
  std::vector<double> e(50);
  for (int i = 1; i < 50; ++i) {
    at::Tensor col = at::zeros({128}, at::kBool).index_fill_(0, top.narrow(0, 0, i), true);
    const at::Tensor S = col.unsqueeze(0).expand({40, 128}).contiguous();
    e[i] = sse(Psi - braq(Psi, S, 2) - braq(Psi, ~S, 2));
    if (e[i] < best) best = e[i], arg = i;
  }
  const BlockStructure s = search_block(b.W, b.Udiag, options(Family::Billm, false));
  // Same column count, or (on a float near-tie) one whose error equals the minimum to rounding.
  EXPECT_LE(e[s.salient_columns], best * (1 + 1e-6)) << "search " << s.salient_columns << " vs brute force " << arg;
}

TEST(StructSearch, SplitsAreTheBestOfThe81BreakPoints) {
  // Exact zeros (salient and not) make the two pools differ: CGB drops them, split (a) keeps them.
  Block b = random_block(40, 128, 33);
  b.W.masked_fill_(at::rand({40, 128}) < 0.05, 0);
  const at::Tensor Psi = saliency(b), absPsi = Psi.abs();
  const at::Tensor levels = quantile_levels();
  // The chosen mask must be one of the candidates' masks and attain their minimum error.
  auto check_split = [&](const at::Tensor& region, const at::Tensor& chosen_hi, const std::vector<float>& p,
                         const std::function<double(const at::Tensor&)>& error) {
    double best = std::numeric_limits<double>::infinity();
    bool candidate = false;
    for (float t : p) {
      const at::Tensor hi = region & (absPsi >= t);
      best = std::min(best, error(hi));
      candidate |= at::equal(hi, chosen_hi);
    }
    EXPECT_TRUE(candidate) << "the split is not one of the 81 break points of its pool";
    EXPECT_LE(error(chosen_hi), best * (1 + 1e-6));
  };
  for (Family f : {Family::Arb, Family::ArbX, Family::ArbRc}) {
    SCOPED_TRACE(name_of(f));
    const BlockStructure s = search_block(b.W, b.Udiag, options(f, true), b.S);
    const at::Tensor M_sal = group(s, "S_hi").mask | group(s, "S_lo").mask;
    const at::Tensor M_ns = ~M_sal;
    // §7(b): pool = non-zero |Psi| on M_sal; error with R2 on both halves, no weighting.
    const at::Tensor sal_vals = absPsi.masked_select(M_sal);
    check_split(M_sal, group(s, "S_hi").mask, quantiles_f32(sal_vals.masked_select(sal_vals != 0), levels),
                [&](const at::Tensor& S_hi) { return sse(Psi - braq(Psi, M_sal & ~S_hi, 2) - braq(Psi, S_hi, 2)); });
    // §7(a): pool = |Psi * 1_Mns| over all entries; R1 on both halves plus the salient
    // reconstruction G3 on the unsplit salient set (ARB order 2 / ARB-RC order 2 on Psi);
    // ARB-X weights the error with the block Gram.
    const at::Tensor G3 = f == Family::ArbRc ? arb_rc(Psi, M_sal, 2, 15).W_hat : arb(Psi, M_sal, 2, 15);
    check_split(M_ns, group(s, "N_hi").mask, quantiles_f32(absPsi * M_ns.to(at::kFloat), levels),
                [&](const at::Tensor& N_hi) {
                  const at::Tensor E = (Psi - braq(Psi, M_ns & ~N_hi, 1) - braq(Psi, N_hi, 1) - G3).to(at::kDouble);
                  if (f == Family::ArbX) return (E.mm(b.S.to(at::kDouble)) * E).sum().item<double>();
                  return E.square().sum().item<double>();
                });
  }
}

TEST(StructSearch, ScaleInvarianceAndMagnitudeMetric) {
  const Block b = random_block(32, 128, 35);
  // Hessian metric: scaling U by a power of two scales Psi exactly: same structure.
  for (Family f : kFamilies) {
    const BlockStructure s1 = search_block(b.W, b.Udiag, options(f, true), b.S);
    const BlockStructure s2 = search_block(b.W, b.Udiag * 4, options(f, true), b.S);
    ASSERT_EQ(s1.groups.size(), s2.groups.size());
    for (size_t g = 0; g < s1.groups.size(); ++g) EXPECT_TRUE(at::equal(s1.groups[g].mask, s2.groups[g].mask));
  }
  // Magnitude metric: Psi = W (U is not read); the salient columns are the top by sum |W|.
  SearchOptions o = options(Family::Arb, false);
  o.metric = SalientMetric::Magnitude;
  const BlockStructure s = search_block(b.W, at::Tensor(), o);
  const at::Tensor by_abs = std::get<1>(b.W.abs().sum(0).sort(0, true));
  at::Tensor expected = at::zeros({128}, at::kBool);
  expected.index_fill_(0, by_abs.narrow(0, 0, s.salient_columns), true);
  EXPECT_TRUE(at::equal(salient_columns_of(s, 32, 128), expected));
}

TEST(StructSearch, RefusesBlocksNarrowerThanTheSearch) {
  const Block b = random_block(8, 40, 36);
  try {
    search_block(b.W, b.Udiag, options(Family::Arb, true));
    FAIL() << "expected ob1q::Error";
  } catch (const ob1q::Error& e) {
    EXPECT_NE(std::string(e.what()).find("block of 40 columns is narrower than the 50 columns"), std::string::npos)
        << e.what();
  }
  // 50 columns is enough; ARB-X without its Gram is refused.
  const Block ok = random_block(8, 50, 37);
  EXPECT_NO_THROW(search_block(ok.W, ok.Udiag, options(Family::ArbRc, true)));
  EXPECT_THROW(search_block(ok.W, ok.Udiag, options(Family::ArbX, true)), ob1q::Error);
}

TEST(StructSearch, SalientWeightFractionIsColumnsOverBeta) {
  const Block b = random_block(24, 128, 38);
  for (Family f : kFamilies) {
    const BlockStructure s = search_block(b.W, b.Udiag, options(f, true), b.S);
    int64_t salient = 0;
    for (const MaskGroup& g : s.groups)
      if (g.order == 2) salient += g.mask.sum().item<int64_t>();
    EXPECT_DOUBLE_EQ(double(salient) / (24 * 128), double(s.salient_columns) / 128) << name_of(f);
  }
}

TEST(StructSearch, BinarizeBlockIsTheSumOfTheGroupBinarizers) {
  const Block b = random_block(24, 128, 39);
  for (Family f : kFamilies) {
    const BlockStructure s = search_block(b.W, b.Udiag, options(f, true), b.S);
    at::Tensor sum = at::zeros_like(b.W);
    for (const MaskGroup& g : s.groups) {
      switch (f) {
        case Family::Billm: sum += braq(b.W, g.mask, g.order); break;
        case Family::Arb: sum += arb(b.W, g.mask, g.order, 15); break;
        case Family::ArbX: sum += arb_x(b.W, g.mask, g.order, b.S, 15, 15); break;
        case Family::ArbRc: sum += arb_rc(b.W, g.mask, g.order, 15).W_hat; break;
      }
    }
    EXPECT_TRUE(at::equal(binarize_block(b.W, s, f, 15, 15, b.S), sum)) << name_of(f);
  }
}

TEST(StructSearch, RandomBlockReconstructionErrorOrdering) {
  const Block b = random_block(256, 128, 40);
  // Baseline: one plane for everything, alpha_r sign(W) with alpha_r = mean_j |W_rj|.
  const double baseline = sse(b.W - b.W.abs().mean(1, true) * b.W.sign());
  for (Family f : kFamilies)
    for (bool cgb : {false, true}) {
      SCOPED_TRACE(std::string(name_of(f)) + (cgb ? " +cgb" : ""));
      const BlockStructure s = search_block(b.W, b.Udiag, options(f, cgb), b.S);
      const double err = sse(b.W - binarize_block(b.W, s, f, 15, 15, b.S));
      EXPECT_LT(err, 0.8 * baseline);
      if (f == Family::Arb || f == Family::ArbRc) {  // iterations vs their own initialisation
        const double init = sse(b.W - binarize_block(b.W, s, f, 0, 0, b.S));
        EXPECT_LE(err, init);
      }
      if (f == Family::ArbX) {  // per group, the calibration phase lowers ARB's S-weighted error
        for (const MaskGroup& g : s.groups) {
          const at::Tensor Mf = g.mask.to(at::kFloat);
          auto werr = [&](const at::Tensor& W_hat) {
            const at::Tensor E = ((b.W - W_hat) * Mf).to(at::kDouble);
            return (E.mm(b.S.to(at::kDouble)) * E).sum().item<double>();
          };
          EXPECT_LE(werr(arb_x(b.W, g.mask, g.order, b.S, 15, 15)), werr(arb(b.W, g.mask, g.order, 15)) * (1 + 1e-6))
              << g.name;
        }
      }
    }
}

// Timing of one 4096x128 block (CPU); run with --gtest_also_run_disabled_tests.
TEST(StructSearch, DISABLED_Timing4096x128) {
  const Block b = random_block(4096, 128, 41);
  for (Family f : kFamilies) {
    search_block(b.W, b.Udiag, options(f, true), b.S);  // warm-up
    const int reps = 3;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) search_block(b.W, b.Udiag, options(f, true), b.S);
    const double search_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const BlockStructure s = search_block(b.W, b.Udiag, options(f, true), b.S);
    const auto t1 = std::chrono::steady_clock::now();
    binarize_block(b.W, s, f, 15, 15, b.S);
    const double bin_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::printf("%-7s search_block %.3f s  binarize_block %.3f s  (i* = %d, threads %d)\n", name_of(f), search_s,
                bin_s, s.salient_columns, at::get_num_threads());
  }
}

TEST(StructSearch, SortedClosedFormSplitErrorsMatchTheDirectOnes) {
  // Signed values (magnitude metric), exact zeros and repeated values, thresholds that empty
  // one side (0 and above the maximum) and ones equal to pool values.
  at::manual_seed(42);
  at::Tensor X = at::randn({64, 90});
  X.masked_fill_(at::rand({64, 90}) < 0.1, 0);
  X.narrow(1, 0, 10).copy_(X.narrow(1, 0, 10).round());
  const float v0 = X[3][7].abs().item<float>(), v1 = X[5][2].abs().item<float>();
  std::vector<float> p = {0.0f, 0.3f, 1.0f, v0, v1, 2.5f, 100.0f};
  for (float q : quantiles_f32(X.abs(), quantile_levels())) p.push_back(q);
  for (int order : {1, 2}) {
    const at::Tensor direct = ob1q::quant::detail::split_errors_direct(X, p, order).to(at::kDouble);
    const at::Tensor sorted = ob1q::quant::detail::split_errors_sorted(X, p, order);
    ASSERT_EQ(sorted.numel(), static_cast<int64_t>(p.size()));
    EXPECT_TRUE(at::allclose(sorted, direct, 2e-5, 1e-4)) << "order " << order << "\n" << at::stack({sorted, direct}, 1);
  }
}

TEST(StructSearch, SortedSplitParametersGiveTheBinarizerResidual) {
  // ARB-X's split error uses the residual built from the closed-form group parameters: it must
  // equal X - R1(X, |X| < p) - R1(X, |X| >= p) from the public binarizer.
  at::manual_seed(43);
  at::Tensor X = at::randn({16, 40}).abs();
  X.masked_fill_(at::rand({16, 40}) < 0.1, 0);
  const std::vector<float> p = {0.0f, 0.5f, 1.2f, 10.0f};
  const auto sp = ob1q::quant::detail::split_params_sorted_r1(X, p);
  const at::Tensor E = ob1q::quant::detail::split_residual_r1(X, p, sp, 1, 3);
  for (int k = 1; k < 4; ++k) {
    const at::Tensor hi = X >= p[k];
    const at::Tensor ref = X - braq(X, ~hi, 1) - braq(X, hi, 1);
    EXPECT_TRUE(at::allclose(E[k - 1], ref, 1e-5, 1e-5)) << "threshold " << p[k];
  }
}
