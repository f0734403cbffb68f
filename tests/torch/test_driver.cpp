// The GPTQ-style block driver (methods.md §4-§5) against a straightforward dense reference
// written independently here in float64: explicit inverse, explicit per-column loops.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ob1q/common/error.hpp"
#include "ob1q/quant/driver.hpp"
#include "ob1q/quant/hessian.hpp"

using namespace ob1q;
using at::indexing::Slice;

namespace {

// A simple deterministic block quantizer: per-row mean-abs scale times sign.
at::Tensor sign_quant(const at::Tensor& W) { return W.abs().mean(1, true) * at::sign(W); }

struct Layer {
  at::Tensor W, H;
};

Layer random_layer(int64_t m, int64_t d, int64_t n, int64_t L) {
  at::manual_seed(42);
  Layer l;
  l.W = at::randn({m, d});
  quant::HessianAccumulator acc(d, c10::kCPU);
  at::Tensor mix = at::randn({d, d}) * 0.3 + at::eye(d);  // correlated inputs
  for (int64_t s = 0; s < n; ++s) acc.add_sequence(at::randn({L, d}).matmul(mix));
  l.H = acc.H();
  return l;
}

// Dense reference: damp, invert in float64, upper Cholesky of the inverse, then the block loop
// with E = (W_J - Q_J)/diag(U_JJ) or the exact column recurrence.
at::Tensor reference(const Layer& l, int64_t beta, double percdamp, bool exact) {
  at::Tensor H = l.H.to(at::kDouble).clone();
  at::Tensor W = l.W.to(at::kDouble).clone();
  const int64_t d = W.size(1);
  H.diagonal().add_(percdamp * H.diagonal().mean().item<double>());
  at::Tensor U = at::linalg_cholesky(at::inverse(H)).t();  // upper: Hinv = U^T U
  for (int64_t c = 0; c < d; c += beta) {
    at::Tensor WJ = W.index({Slice(), Slice(c, c + beta)}).clone();
    at::Tensor QJ = sign_quant(WJ.to(at::kFloat)).to(at::kDouble);
    at::Tensor work = WJ.clone();
    at::Tensor E = at::zeros_like(WJ);
    for (int64_t i = 0; i < beta; ++i) {
      double u = U[c + i][c + i].item<double>();
      at::Tensor col = exact ? work.index({Slice(), i}) : WJ.index({Slice(), i});
      at::Tensor e = (col - QJ.index({Slice(), i})) / u;
      E.index_put_({Slice(), i}, e);
      if (exact)  // GPTQ's column recurrence with the pre-computed Q
        for (int64_t k = i + 1; k < beta; ++k)
          work.index_put_({Slice(), k}, work.index({Slice(), k}) - e * U[c + i][c + k].item<double>());
    }
    W.index_put_({Slice(), Slice(c, c + beta)}, QJ);
    for (int64_t k = c + beta; k < d; ++k)
      W.index_put_({Slice(), k}, W.index({Slice(), k}) - E.matmul(U.index({Slice(c, c + beta), k})));
  }
  return W;
}

}  // namespace

TEST(Hessian, EqualsTwoOverNSumOfGrams) {
  at::manual_seed(1);
  quant::HessianAccumulator acc(8, c10::kCPU);
  at::Tensor sum = at::zeros({8, 8}, at::kDouble);
  for (int s = 0; s < 5; ++s) {
    at::Tensor X = at::randn({16, 8});
    acc.add_sequence(X.unsqueeze(0));
    sum += X.to(at::kDouble).t().matmul(X.to(at::kDouble));
  }
  EXPECT_EQ(acc.count(), 5);
  EXPECT_TRUE(at::allclose(acc.H().to(at::kDouble), sum * (2.0 / 5), 1e-5, 1e-4));
}

TEST(Driver, MatchesDenseReferenceBillmDiag) {
  Layer l = random_layer(64, 256, 6, 64);
  quant::DriverOptions opt;  // blocksize 128, percdamp 0.01, billm-diag
  auto r = quant::run_block_driver(l.W, l.H, opt, [](const at::Tensor& W, const quant::BlockContext&) { return sign_quant(W); }, "test");
  at::Tensor ref = reference(l, 128, 0.01, false);
  EXPECT_LT((r.W_hat.to(at::kDouble) - ref).abs().max().item<double>(), 1e-3);
  // compensation matters: the second block differs from quantizing the original weights directly
  at::Tensor naive = sign_quant(l.W.index({Slice(), Slice(128, 256)}));
  EXPECT_GT((r.W_hat.index({Slice(), Slice(128, 256)}) - naive).abs().max().item<double>(), 1e-2);
}

TEST(Driver, ExactBlockEqualsColumnRecurrence) {
  Layer l = random_layer(64, 256, 6, 64);
  quant::DriverOptions opt;
  opt.comp = quant::Compensation::ExactBlock;
  auto r = quant::run_block_driver(l.W, l.H, opt, [](const at::Tensor& W, const quant::BlockContext&) { return sign_quant(W); }, "test");
  EXPECT_LT((r.W_hat.to(at::kDouble) - reference(l, 128, 0.01, true)).abs().max().item<double>(), 1e-3);
}

TEST(Driver, DeadInputsAndBadNumbers) {
  Layer l = random_layer(16, 128, 2, 32);
  l.H.index_put_({5, Slice()}, 0.0);
  l.H.index_put_({Slice(), 5}, 0.0);
  quant::DriverOptions opt;
  auto r = quant::run_block_driver(l.W, l.H, opt, [](const at::Tensor& W, const quant::BlockContext&) { return sign_quant(W); }, "layer.x");
  EXPECT_EQ(r.dead, 1);
  at::Tensor W = l.W.clone();
  W[0][0] = std::numeric_limits<float>::quiet_NaN();
  try {
    quant::run_block_driver(W, l.H, opt, [](const at::Tensor& W, const quant::BlockContext&) { return sign_quant(W); }, "layer.x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer.x"), std::string::npos);
  }
}

TEST(Driver, CholeskyRetryWithMoreDamping) {
  // An indefinite "Hessian" fails at percdamp 0.01 and succeeds once the damping is raised.
  at::Tensor H = at::eye(128) * 2;
  H[0][1] = H[1][0] = 2.05;  // 2x2 block [[2,2.05],[2.05,2]] is indefinite
  at::Tensor W = at::randn({8, 128});
  at::Tensor Wc = W.clone();
  auto p = quant::precondition(H, Wc, 0.01, "layer.y");
  EXPECT_GT(p.damp, 0.01);
  EXPECT_TRUE(at::isfinite(p.U).all().item<bool>());
}
