// The binarizers of methods.md §9-§12: BiLLM's residual binarizer (braq), ARB, ARB-X and ARB-RC.
// All work on one block W [m, beta] (fp32) and one mask group M; every result is zero outside M.
// The references compute masked statistics as NaN-means and rely on sign(NaN) = 0; here every
// statistic is an explicit masked sum divided by the masked count (empty row/column -> 0), and
// every sign is taken of a tensor that is already zero outside the mask.
#include <ATen/ATen.h>

#include <string>

#include "binarize_detail.hpp"
#include "ob1q/quant/binarize.hpp"

namespace ob1q::quant {
namespace {

constexpr double kLsqEps = 1e-8;    // ARB / ARB-RC least-squares denominators (§10, §12)
constexpr double kCalibEps = 1e-10;  // ARB-X calibration denominators (§11)

void check_inputs(const char* where, const at::Tensor& W, const at::Tensor& M, int order) {
  TORCH_CHECK(W.dim() == 2 && W.scalar_type() == at::kFloat, where, ": W must be a 2-D float32 tensor");
  TORCH_CHECK(M.sizes() == W.sizes() && M.scalar_type() == at::kBool, where, ": M must be a bool tensor shaped like W");
  TORCH_CHECK(order == 1 || order == 2, where, ": order must be 1 or 2, got ", order);
}

at::Tensor float_mask(const at::Tensor& M, const at::Tensor& W) { return M.to(W.device(), at::kFloat); }

// Masked mean along `dim` of A, which must already be zero outside the mask; cnt = mask count
// along dim (keepdim). Empty rows/columns give 0/1 = 0, the reference's NaN -> 0.
at::Tensor masked_mean(const at::Tensor& A_masked, const at::Tensor& cnt, int64_t dim) {
  return A_masked.sum(dim, /*keepdim=*/true) / cnt.clamp_min(1);
}

// Per-row quadratic form x_r S y_r^T for all rows at once, given xS = x.mm(S).
at::Tensor row_form(const at::Tensor& xS, const at::Tensor& y) { return (xS * y).sum(1, /*keepdim=*/true); }

// ---- ARB-RC (§12) --------------------------------------------------------------------------
struct RcState {
  at::Tensor a;  // [m, 1]
  at::Tensor c;  // [1, beta]
  at::Tensor B;  // [m, beta], zero outside M
  at::Tensor plane() const { return a * c * B; }
};

// Initialisation of one plane on the residual Rz (zero outside M): a = rowmean_M|Rz|,
// c = colmean_M|Rz / a| over the rows with a != 0, B = sgn0(Rz).
RcState rc_init(const at::Tensor& Rz, const at::Tensor& Mf) {
  const at::Tensor absR = Rz.abs();
  RcState s;
  s.a = masked_mean(absR, Mf.sum(1, true), 1);
  // A row with a = 0 has only zeros in M; the reference's 0/0 = NaN drops it from the column mean.
  const at::Tensor live = (s.a != 0).to(at::kFloat);
  const at::Tensor ratio = absR / at::where(s.a != 0, s.a, at::ones_like(s.a));
  s.c = masked_mean(ratio * live, (Mf * live).sum(0, true), 0);
  s.B = Rz.sign();
  return s;
}

// One alternating least-squares pass of a plane against the target Wt (zero outside M):
// a given c, then c given the new a. B is fixed and already zero outside M.
void rc_als_step(RcState& s, const at::Tensor& Wt) {
  const at::Tensor P = s.c * s.B;  // c_j B_rj 1_M
  s.a = (P * Wt).sum(1, true) / (P.square().sum(1, true) + kLsqEps);
  const at::Tensor Q = s.a * s.B;  // a_r B_rj 1_M
  s.c = (Q * Wt).sum(0, true) / (Q.square().sum(0, true) + kLsqEps);
}

}  // namespace

namespace detail {

// R_order on the last dim; when `params` is given, every plane's (alpha, B) and mean go there.
at::Tensor braq_impl(const at::Tensor& X, const at::Tensor& Mf, int order, BraqResult* params) {
  const at::Tensor Xm = X * Mf;
  const at::Tensor cnt = Mf.sum(-1, true);
  at::Tensor W_hat;
  for (int o = 0; o < order; ++o) {
    const at::Tensor Rz = o == 0 ? Xm : Xm - W_hat;  // zero outside M
    const at::Tensor mu = masked_mean(Rz, cnt, -1);
    const at::Tensor D = (Rz - mu) * Mf;  // centred residual, zero outside M
    const at::Tensor alpha = masked_mean(D.abs(), cnt, -1);
    const at::Tensor B = D.sign();
    const at::Tensor plane = (alpha * B + mu) * Mf;
    W_hat = o == 0 ? plane : W_hat + plane;
    if (params) {
      params->planes.push_back({alpha.squeeze(-1), B});
      params->mu.push_back(mu.squeeze(-1));
    }
  }
  if (params) params->W_hat = W_hat;
  return W_hat;
}

at::Tensor braq_batched(const at::Tensor& X, const at::Tensor& Mf, int order) { return braq_impl(X, Mf, order, nullptr); }

std::vector<at::Tensor> joint_sign(const at::Tensor& D, const at::Tensor& k1, const at::Tensor& k2,
                                   const at::Tensor& Mf) {
  // Candidates in the reference's order; a strict "<" scan keeps the first index on ties.
  at::Tensor best = (D - (-k1 - k2)).abs();
  at::Tensor b1_pos = at::zeros_like(best, at::kBool);
  at::Tensor b2_pos = at::zeros_like(best, at::kBool);
  const bool pos1[3] = {false, true, true};
  const bool pos2[3] = {true, false, true};
  const at::Tensor cand[3] = {-k1 + k2, k1 - k2, k1 + k2};
  for (int k = 0; k < 3; ++k) {
    const at::Tensor d = (D - cand[k]).abs();
    const at::Tensor better = d < best;
    best = at::where(better, d, best);
    b1_pos = pos1[k] ? (b1_pos | better) : (b1_pos & ~better);
    b2_pos = pos2[k] ? (b2_pos | better) : (b2_pos & ~better);
  }
  return {(b1_pos.to(at::kFloat) * 2 - 1) * Mf, (b2_pos.to(at::kFloat) * 2 - 1) * Mf};
}

ArbState arb_state(const at::Tensor& W, const at::Tensor& Mf, int order, int iters) {
  const at::Tensor Xm = W * Mf;
  const at::Tensor cnt = Mf.sum(1, true);
  ArbState s;
  // Initialisation = R_order (§9), keeping each plane; the total mean is the sum of the means.
  for (int o = 0; o < order; ++o) {
    const at::Tensor Rz = o == 0 ? Xm : Xm - s.W_hat;
    const at::Tensor mu_o = masked_mean(Rz, cnt, 1);
    const at::Tensor D = (Rz - mu_o) * Mf;
    const at::Tensor alpha_o = masked_mean(D.abs(), cnt, 1);
    const at::Tensor B_o = D.sign();
    const at::Tensor plane = (alpha_o * B_o + mu_o) * Mf;
    s.W_hat = o == 0 ? plane : s.W_hat + plane;
    s.mu = o == 0 ? mu_o : s.mu + mu_o;
    s.alpha.push_back(alpha_o);
    s.B.push_back(B_o);
  }
  for (int it = 0; it < iters; ++it) {
    s.mu = s.mu + masked_mean(Xm - s.W_hat, cnt, 1);  // 1. refine the mean with the residual's
    const at::Tensor Dc = Xm - s.mu * Mf;              // W_M - mu 1_M
    if (order == 1) {
      // 2. least squares with the current B; 3. new B. W_hat pairs the new B with the alpha
      // fitted to the old one, as the reference does.
      s.alpha[0] = (s.B[0] * Dc).sum(1, true) / (s.B[0].square().sum(1, true) + kLsqEps);
      s.B[0] = Dc.sign();
      s.W_hat = (s.alpha[0] * s.B[0] + s.mu) * Mf;
    } else {
      s.alpha[0] = (s.B[0] * (Dc - s.alpha[1] * s.B[1])).sum(1, true) / (s.B[0].square().sum(1, true) + kLsqEps);
      s.alpha[1] = (s.B[1] * (Dc - s.alpha[0] * s.B[0])).sum(1, true) / (s.B[1].square().sum(1, true) + kLsqEps);
      s.B = joint_sign(Dc, s.alpha[0], s.alpha[1], Mf);
      s.W_hat = (s.alpha[0] * s.B[0] + s.alpha[1] * s.B[1] + s.mu) * Mf;
    }
  }
  return s;
}

}  // namespace detail

at::Tensor braq(const at::Tensor& W, const at::Tensor& M, int order) {
  check_inputs("braq", W, M, order);
  return detail::braq_batched(W, float_mask(M, W), order);
}

BraqResult braq_params(const at::Tensor& W, const at::Tensor& M, int order) {
  check_inputs("braq", W, M, order);
  BraqResult r;
  detail::braq_impl(W, float_mask(M, W), order, &r);
  return r;
}

namespace {
ArbResult to_result(const detail::ArbState& s) {
  ArbResult r;
  r.W_hat = s.W_hat;
  r.mu = s.mu.squeeze(1);
  for (size_t o = 0; o < s.B.size(); ++o) r.planes.push_back({s.alpha[o].squeeze(1), s.B[o]});
  return r;
}
}  // namespace

ArbResult arb_params(const at::Tensor& W, const at::Tensor& M, int order, int iters) {
  check_inputs("arb", W, M, order);
  TORCH_CHECK(iters >= 0, "arb: iters must be >= 0");
  return to_result(detail::arb_state(W, float_mask(M, W), order, iters));
}

at::Tensor arb(const at::Tensor& W, const at::Tensor& M, int order, int iters) {
  return arb_params(W, M, order, iters).W_hat;
}

ArbResult arb_x_params(const at::Tensor& W, const at::Tensor& M, int order, const at::Tensor& S, int iters,
                       int iters2) {
  check_inputs("arb_x", W, M, order);
  const int64_t beta = W.size(1);
  TORCH_CHECK(S.defined() && S.dim() == 2 && S.size(0) == beta && S.size(1) == beta,
              "arb_x: S must be the [beta, beta] block Gram");
  TORCH_CHECK(iters >= 0 && iters2 >= 0, "arb_x: iteration counts must be >= 0");
  const at::Tensor Mf = float_mask(M, W);
  const at::Tensor Sf = S.to(W.device(), at::kFloat);
  detail::ArbState s = detail::arb_state(W, Mf, order, iters);
  if (iters2 == 0) return to_result(s);

  // B is frozen in this phase, so every row quadratic form x_r S y_r^T between w, m and the
  // b's is a constant: compute them once (O(m beta^2)) and iterate on per-row scalars
  // (algebraically the same updates as §11, without a beta x beta product per iteration).
  const at::Tensor w = W * Mf;
  const at::Tensor mS = Mf.mm(Sf);
  const at::Tensor wSm = row_form(w.mm(Sf), Mf);
  const at::Tensor d_mu = row_form(mS, Mf) + kCalibEps;
  if (order == 1) {
    const at::Tensor& b = s.B[0];
    const at::Tensor bS = b.mm(Sf);
    const at::Tensor bSm = row_form(bS, Mf), bSw = row_form(bS, w);
    const at::Tensor d_a = row_form(bS, b) + kCalibEps;
    at::Tensor& alpha = s.alpha[0];
    for (int it = 0; it < iters2; ++it) {
      s.mu = (wSm - alpha * bSm) / d_mu;    // (w - a b) S m^T / dmu
      alpha = (bSw - s.mu * bSm) / d_a;     // b S (w - mu m)^T / da
    }
    s.W_hat = (alpha * b + s.mu) * Mf;
  } else {
    const at::Tensor &b1 = s.B[0], &b2 = s.B[1];
    const at::Tensor b1S = b1.mm(Sf), b2S = b2.mm(Sf);
    const at::Tensor b1Sm = row_form(b1S, Mf), b2Sm = row_form(b2S, Mf);
    const at::Tensor b1Sw = row_form(b1S, w), b2Sw = row_form(b2S, w);
    const at::Tensor b1Sb2 = row_form(b1S, b2), b2Sb1 = row_form(b2S, b1);
    const at::Tensor d1 = row_form(b1S, b1) + kCalibEps, d2 = row_form(b2S, b2) + kCalibEps;
    at::Tensor &a1 = s.alpha[0], &a2 = s.alpha[1];
    for (int it = 0; it < iters2; ++it) {
      s.mu = (wSm - a1 * b1Sm - a2 * b2Sm) / d_mu;       // (w - a1 b1 - a2 b2) S m^T / dmu
      a1 = (b1Sw - s.mu * b1Sm - a2 * b1Sb2) / d1;      // b1 S (w - mu m - a2 b2)^T / d1
      a2 = (b2Sw - s.mu * b2Sm - a1 * b2Sb1) / d2;      // b2 S (w - mu m - a1 b1)^T / d2 (new a1)
    }
    s.W_hat = (a1 * b1 + a2 * b2 + s.mu) * Mf;
  }
  return to_result(s);
}

at::Tensor arb_x(const at::Tensor& W, const at::Tensor& M, int order, const at::Tensor& S, int iters, int iters2) {
  return arb_x_params(W, M, order, S, iters, iters2).W_hat;
}

RcResult arb_rc(const at::Tensor& W, const at::Tensor& M, int order, int iters) {
  check_inputs("arb_rc", W, M, order);
  TORCH_CHECK(iters >= 0, "arb_rc: iters must be >= 0");
  const at::Tensor Mf = float_mask(M, W);
  const at::Tensor Wm = W * Mf;
  std::vector<RcState> p;
  p.push_back(rc_init(Wm, Mf));
  if (order == 2) p.push_back(rc_init(Wm - p[0].plane(), Mf));

  for (int it = 0; it < iters; ++it) {
    if (order == 1) {
      rc_als_step(p[0], Wm);  // B is never updated for order 1
      continue;
    }
    rc_als_step(p[0], Wm - p[1].plane());
    rc_als_step(p[1], Wm - p[0].plane());
    // Signed k's: a and c are least-squares values and may be negative (§12).
    std::vector<at::Tensor> B = detail::joint_sign(Wm, p[0].a * p[0].c, p[1].a * p[1].c, Mf);
    p[0].B = B[0];
    p[1].B = B[1];
  }

  RcResult r;
  for (const RcState& s : p) {
    r.W_hat = r.W_hat.defined() ? r.W_hat + s.plane() : s.plane();
    r.planes.push_back({s.a.squeeze(1), s.c.squeeze(0), s.B});
  }
  return r;
}

}  // namespace ob1q::quant
