#include "ob1q/common/log.hpp"
#include "ob1q/quant/hessian.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "ob1q/common/error.hpp"

namespace ob1q::quant {

HessianAccumulator::HessianAccumulator(int64_t dim, c10::Device device)
    : H_(at::zeros({dim, dim}, at::TensorOptions().dtype(at::kFloat).device(device))) {}

void HessianAccumulator::add_sequence(const at::Tensor& x) {
  at::Tensor X = x.reshape({-1, x.size(-1)}).to(at::kFloat);
  H_.mul_(double(k_) / double(k_ + 1));
  ++k_;
  X = X * std::sqrt(2.0 / double(k_));
  H_.addmm_(X.t(), X);
}

namespace {

// Returns (U, ok): U = upper Cholesky factor of H^-1.
std::pair<at::Tensor, bool> try_factor(const at::Tensor& H) {
  at::Tensor L, info;
  std::tie(L, info) = at::linalg_cholesky_ex(H);
  if (info.item<int64_t>() != 0) return {at::Tensor(), false};
  at::Tensor Hinv = at::cholesky_inverse(L);
  at::Tensor U;
  std::tie(U, info) = at::linalg_cholesky_ex(Hinv, /*upper=*/true);
  if (info.item<int64_t>() != 0) return {at::Tensor(), false};
  return {U, true};
}

}  // namespace

Preconditioned precondition(const at::Tensor& H_in, at::Tensor& W, double percdamp, const std::string& layer) {
  at::Tensor H = H_in.clone();
  at::Tensor diag = H.diagonal();
  Preconditioned p;
  p.dead = diag == 0;
  if (p.dead.any().item<bool>()) {
    diag.masked_fill_(p.dead, 1.0);
    W.index_put_({at::indexing::Slice(), p.dead}, 0.0);
    OB1Q_DEBUG("%s: %lld dead input channels", layer.c_str(), (long long)p.dead.sum().item<int64_t>());
  }
  if (!at::isfinite(H).all().item<bool>()) fail(layer, "Hessian contains NaN/Inf (non-finite calibration activations)");
  const double mean_diag = diag.mean().item<double>();
  double damp = percdamp;
  for (int attempt = 0; attempt <= 5; ++attempt) {
    at::Tensor Hd = H.clone();
    Hd.diagonal().add_(damp * mean_diag);
    auto [U, ok] = try_factor(Hd);
    if (ok) {
      p.U = U;
      p.damp = damp;
      return p;
    }
    OB1Q_WARN("%s: Cholesky failed with damping %.3g; retrying with %.3g", layer.c_str(), damp, damp * 10);
    damp *= 10;
  }
  fail(layer, "Hessian is not positive definite even with damping " + std::to_string(damp / 10));
}

}  // namespace ob1q::quant
