// The closed-form steps of one OA plane (methods.md §16) and the AMP gates (§17).
// Plane: W_hat_p = diag(s_out) B_G diag(s_in); plane loss -2<T, W_hat_p> + <W_hat_p S, W_hat_p>
// (T is the effective target, which already contains the rest of the block, §18).
// Everything stays on the inputs' device in fp32; only the beta x beta s_in system goes to the
// CPU in fp64 (--oa-solver gelsd-cpu-f64; CUDA's lstsq has no rank-revealing driver).
#include <ATen/ATen.h>

#include <limits>

#include "oa_detail.hpp"

namespace ob1q::quant::detail {
namespace {

constexpr double kPinvRcond = 1e-6;  // --oa-solver pinv (§16 (2))

at::Tensor col(const at::Tensor& v) { return v.unsqueeze(1); }  // [m] -> [m, 1]
at::Tensor row(const at::Tensor& v) { return v.unsqueeze(0); }  // [beta] -> [1, beta]

// The B step's D from the quadratic part Q = diag(s_out^2) B_G diag(s_in) N_off diag(s_in) and
// the linear part P = diag(s_out) T diag(s_in) (§16 (3) and the --oa-bform variants of §19 #4).
at::Tensor combine_direction(const at::Tensor& Q, const at::Tensor& P, OaBForm form) {
  switch (form) {
    case OaBForm::Exact: return Q - P;
    case OaBForm::SignFixed2P: return Q - 2 * P;
    case OaBForm::Literal: return 2 * P - Q;  // B = sign(N_F B K - 2P) = -sign(2P - Q)
  }
  return Q - P;
}

// sgn+ on the group's entries, 0 outside: the ternary gate can leave B_mix in {-3, ..., 3}.
at::Tensor rebinarize(const at::Tensor& B_mix, const at::Tensor& G) {
  return at::where(B_mix >= 0, G, -G);
}

// One B-coordinate proposal restricted to the entries `sel` (bool, broadcastable to BG), with the
// gate acceptance A already computed: the mixed value on sel, the current BG elsewhere.
at::Tensor apply_b(const at::Tensor& BG, const at::Tensor& B_star, const at::Tensor& A, const at::Tensor& G,
                   OaGate gate, const at::Tensor& sel) {
  at::Tensor B_new = oa_mix(BG, B_star, A);
  if (gate == OaGate::Ternary) B_new = rebinarize(B_new, G);
  return sel.defined() ? at::where(sel, B_new, BG) : B_new;
}

// Sequential sweep over the active channels with a fresh D column each time (all-gauss-seidel).
// Column i of D does not depend on B's own column i (N_off has a zero diagonal), so the update
// of one channel is its exact coordinate minimizer given the others.
void gauss_seidel_sweep(OaPlane& p, const OaPlaneProblem& q, OaGate gate, OaBForm form) {
  const at::Tensor active = p.active.to(at::kCPU).contiguous();  // one transfer per sweep
  const bool* is_active = active.data_ptr<bool>();
  const at::Tensor s_out2 = p.s_out.square();
  p.BG = p.BG.clone();  // updated in place below; never write through a shared tensor
  at::Tensor U = p.BG * row(p.s_in);  // B_G diag(s_in), kept current column by column
  const int64_t beta = p.BG.size(1);
  for (int64_t i = 0; i < beta; ++i) {
    if (!is_active[i]) continue;
    const at::Tensor s_in_i = p.s_in.narrow(0, i, 1);  // stays on the device
    const at::Tensor G_i = p.G.select(1, i);
    const at::Tensor B_i = p.BG.select(1, i);
    const at::Tensor Q_i = U.mv(q.N_off.select(1, i)) * s_in_i * s_out2;
    const at::Tensor P_i = q.T.select(1, i) * p.s_out * s_in_i;
    const at::Tensor D_i = combine_direction(Q_i, P_i, form) * G_i;
    const at::Tensor B_star = oa_b_star(B_i, D_i);
    at::Tensor A = G_i;
    if (gate != OaGate::Off) {
      // R[:, i] = R_rest[:, i] + (diag(s_out) U) M[:, i], at the pre-update parameters.
      const at::Tensor R_i = q.R_rest.select(1, i) + (U * col(p.s_out)).mv(q.M.select(1, i));
      A = oa_gate_mask(gate, B_i, B_star, p.s_out * R_i * s_in_i) * G_i;
    }
    const at::Tensor B_new = apply_b(B_i, B_star, A, G_i, gate, at::Tensor());
    p.BG.select(1, i).copy_(B_new);
    U.select(1, i).copy_(B_new * s_in_i);
  }
}

}  // namespace

// (s_out s_in^T) ⊙ B_G: the same association as ARB-RC's planes, so an unrefined plane
// reproduces ARB-RC's reconstruction bit for bit.
at::Tensor OaPlane::reconstruction() const { return col(s_out) * row(s_in) * BG; }

at::Tensor oa_s_out_star(const OaPlane& p, const OaPlaneProblem& q) {
  const at::Tensor U = p.BG * row(p.s_in);  // u_r = B_G,r ⊙ s_in^T
  const at::Tensor num = (q.T * U).sum(1);
  const at::Tensor den = (U.mm(q.S) * U).sum(1);
  const at::Tensor ok = den > 0;
  return at::where(ok, num / at::where(ok, den, at::ones_like(den)), p.s_out);
}

at::Tensor oa_s_in_star(const OaPlane& p, const OaPlaneProblem& q, OaSolver solver) {
  const at::Tensor Bs = p.BG * col(p.s_out);                 // s_out_r B_G,ri
  const at::Tensor K = Bs.t().mm(Bs);                         // B_G^T diag(s_out^2) B_G
  const at::Tensor v = (Bs * q.T).sum(0);                     // v_i = sum_r s_out_r B_G,ri T_ri
  if (solver == OaSolver::Cholesky) {
    // On the inputs' device in fp64: S_hat (.) K is positive semi-definite (Schur product); with the
    // inactive channels replaced by identity rows it is almost always definite. Falls back to the
    // rank-revealing CPU solve when the factorisation fails. Avoids a host round-trip per step.
    const at::Tensor act = p.active;
    const at::Tensor keep = act.unsqueeze(0).logical_and(act.unsqueeze(1));
    at::Tensor A = at::where(keep, (q.S * K).to(at::kDouble), at::zeros({}, K.options().dtype(at::kDouble)));
    A = A + at::diag(at::logical_not(act).to(at::kDouble));
    at::Tensor L, info;
    std::tie(L, info) = at::linalg_cholesky_ex(A);
    if (info.item<int64_t>() == 0) {
      at::Tensor x = at::cholesky_solve(at::where(act, v.to(at::kDouble), at::zeros({}, A.options())).unsqueeze(1), L)
                         .squeeze(1);
      return at::where(act, x.to(at::kFloat), p.s_in);
    }
    solver = OaSolver::Gelsd;
  }
  const at::Tensor A = (q.S * K).to(at::kCPU, at::kDouble);  // one transfer per step
  const at::Tensor idx = p.active.to(at::kCPU).nonzero().squeeze(1);
  if (idx.numel() == 0) return p.s_in;
  const at::Tensor A_act = A.index_select(0, idx).index_select(1, idx);
  const at::Tensor v_act = v.to(at::kCPU, at::kDouble).index_select(0, idx);
  at::Tensor x;
  if (solver == OaSolver::Pinv) {
    x = at::linalg_pinv(A_act, kPinvRcond, /*hermitian=*/false).mv(v_act);
  } else {
    // gelsd: SVD-based and rank-revealing (default rcond = eps * size), minimum-norm solution.
    x = std::get<0>(at::linalg_lstsq(A_act, v_act.unsqueeze(1), c10::nullopt, "gelsd")).squeeze(1);
  }
  at::Tensor s_in = p.s_in.to(at::kCPU, at::kDouble).clone();
  s_in.index_copy_(0, idx, x);
  return s_in.to(p.s_in.device(), at::kFloat);
}

at::Tensor oa_gd(const OaPlane& p, const OaPlaneProblem& q) { return oa_b_direction(p, q, OaBForm::Exact); }

at::Tensor oa_b_direction(const OaPlane& p, const OaPlaneProblem& q, OaBForm form) {
  const at::Tensor Q = (p.BG * row(p.s_in)).mm(q.N_off) * row(p.s_in) * col(p.s_out.square());
  const at::Tensor P = q.T * col(p.s_out) * row(p.s_in);
  return combine_direction(Q, P, form) * p.G;
}

at::Tensor oa_b_star(const at::Tensor& BG, const at::Tensor& D) {
  // BG is +-1 on G and D is 0 outside G, so "keep BG where D == 0" also keeps the zeros outside.
  const at::Tensor one = at::ones_like(BG);
  return at::where(D > 0, -one, at::where(D < 0, one, BG)) * BG.abs();
}

at::Tensor oa_amp_r(const OaPlane& p, const OaPlaneProblem& q) { return q.R_rest + p.reconstruction().mm(q.M); }

OaGates oa_gates(const OaPlane& p, const at::Tensor& R) {
  const at::Tensor RB = R * p.BG;  // restricted to the group's entries
  return {(RB * row(p.s_in)).sum(1), (RB * col(p.s_out)).sum(0), col(p.s_out) * R * row(p.s_in) * p.G};
}

at::Tensor oa_gate_mask(OaGate mode, const at::Tensor& theta, const at::Tensor& theta_star, const at::Tensor& g) {
  switch (mode) {
    case OaGate::Off: return at::ones_like(theta);
    case OaGate::Heaviside: return (g > 0).to(theta.scalar_type());
    case OaGate::Direction: return ((theta_star - theta) * g >= 0).to(theta.scalar_type());
    case OaGate::Ternary: return g.sign();
  }
  return at::ones_like(theta);
}

// Written as theta (1 - A) + theta* A so that A in {0, 1} returns theta or theta* exactly.
at::Tensor oa_mix(const at::Tensor& theta, const at::Tensor& theta_star, const at::Tensor& A) {
  return theta * (1 - A) + theta_star * A;
}

void oa_step_s_in(OaPlane& p, const OaPlaneProblem& q, OaGate gate, OaSolver solver) {
  const at::Tensor star = oa_s_in_star(p, q, solver);
  if (gate == OaGate::Off) {
    p.s_in = star;
    return;
  }
  const at::Tensor g_in = oa_gates(p, oa_amp_r(p, q)).g_in;
  p.s_in = oa_mix(p.s_in, star, oa_gate_mask(gate, p.s_in, star, g_in));
}

void oa_step_s_out(OaPlane& p, const OaPlaneProblem& q, OaGate gate) {
  const at::Tensor star = oa_s_out_star(p, q);
  if (gate == OaGate::Off) {
    p.s_out = star;
    return;
  }
  const at::Tensor g_out = oa_gates(p, oa_amp_r(p, q)).g_out;
  p.s_out = oa_mix(p.s_out, star, oa_gate_mask(gate, p.s_out, star, g_out));
}

void oa_step_b(OaPlane& p, const OaPlaneProblem& q, OaGate gate, OaBForm form, OaBRows rows) {
  if (rows == OaBRows::AllGaussSeidel) {
    gauss_seidel_sweep(p, q, gate, form);
    return;
  }
  const at::Tensor D = oa_b_direction(p, q, form);
  const at::Tensor B_star = oa_b_star(p.BG, D);
  at::Tensor A = p.G;
  if (gate != OaGate::Off) A = oa_gate_mask(gate, p.BG, B_star, oa_gates(p, oa_amp_r(p, q)).g_B) * p.G;
  if (rows == OaBRows::AllJacobi) {
    p.BG = apply_b(p.BG, B_star, A, p.G, gate, at::Tensor());
    return;
  }
  // One input channel (Alg. 2 line 18). Inactive channels can never be chosen.
  at::Tensor score;
  if (rows == OaBRows::PaperArgmax) {
    score = (p.BG * D).sum(0);  // the channel most aligned with the ascent direction
  } else {
    // Loss decrease of the accepted flips: B D - B* D = B D + |D| where B* flips, 0 elsewhere
    // (ternary's -1 acts as "keep" after re-binarization, so only A > 0 counts).
    score = ((A > 0).to(at::kFloat) * (D.abs() + p.BG * D)).sum(0);
  }
  score = score.masked_fill(p.active.logical_not(), -std::numeric_limits<float>::infinity());
  const at::Tensor chosen = at::arange(p.BG.size(1), score.options().dtype(at::kLong)) == score.argmax();
  p.BG = apply_b(p.BG, B_star, A, p.G, gate, row(chosen));
}

}  // namespace ob1q::quant::detail
