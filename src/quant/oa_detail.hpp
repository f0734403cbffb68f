// Internals of the OA refinement (methods.md §15-§18): the closed-form steps of one binary plane
// (oa_updates.cpp) that oa.cpp schedules over the planes of a block. Exposed for the white-box
// checks of §18. Everything is fp32 on the inputs' device except the beta x beta s_in solve.
#pragma once
#include <ATen/core/Tensor.h>

namespace ob1q::quant::detail {

// --oa-amp-mask / --amp off, --oa-bform, --oa-brows, --oa-solver as enums (parsed in oa.cpp).
enum class OaGate { Off, Heaviside, Direction, Ternary };
enum class OaBForm { Exact, SignFixed2P, Literal };
enum class OaBRows { PaperArgmax, GreedyGain, AllJacobi, AllGaussSeidel };
enum class OaSolver { Gelsd, Pinv, Cholesky };

// One binary plane diag(s_out) B diag(s_in) restricted to its group G.
struct OaPlane {
  at::Tensor s_out;   // [m]
  at::Tensor s_in;    // [beta]
  at::Tensor BG;      // [m, beta]: B in {-1, +1} on G, 0 outside (B ⊙ 1_G)
  at::Tensor G;       // [m, beta] float 0/1
  at::Tensor active;  // [beta] bool: channels with at least one entry in G

  at::Tensor reconstruction() const;  // s_out_r B_G,rj s_in_j
};

// What a plane's updates see (§16, §18): the (effective) linear target, the quadratic Gram,
// the Gram of the B step's quadratic term (S_hat, or C for --oa-n-gram cross) with its diagonal
// removed, and for AMP the matrix M with R_rest = (reconstruction of everything but this plane) M.
struct OaPlaneProblem {
  at::Tensor T;       // [m, beta] T_eff
  at::Tensor S;       // [beta, beta] S_hat
  at::Tensor N_off;   // [beta, beta]
  at::Tensor M;       // [beta, beta]; undefined when AMP is off
  at::Tensor R_rest;  // [m, beta];   undefined when AMP is off
};

// §16 (1): the row-wise exact s_out* (rows whose quadratic form is 0, e.g. empty in G, keep s_out).
at::Tensor oa_s_out_star(const OaPlane& p, const OaPlaneProblem& q);
// §16 (2): s_in* from (S_hat ⊙ K) s_in = v over the active channels, solved on the CPU in fp64;
// inactive channels keep s_in.
at::Tensor oa_s_in_star(const OaPlane& p, const OaPlaneProblem& q, OaSolver solver);
// §16 (3): Gd = diag(s_out^2) B_G diag(s_in) N_off diag(s_in) - diag(s_out) T diag(s_in), on G.
at::Tensor oa_gd(const OaPlane& p, const OaPlaneProblem& q);
// The matrix D whose sign the B step opposes, B* = -sign(D), for each --oa-bform:
// exact D = Gd; signfixed-2p D = Q - 2P; literal (the paper's sign(N_F B K - 2P)) D = 2P - Q,
// with Q, P the quadratic and linear parts of Gd. Zero outside G.
at::Tensor oa_b_direction(const OaPlane& p, const OaPlaneProblem& q, OaBForm form);
// B* = -sign(D) on G, the current B where D == 0; 0 outside G.
at::Tensor oa_b_star(const at::Tensor& BG, const at::Tensor& D);

// §17 gates at the current parameters, with R = R_rest + reconstruction() M.
struct OaGates {
  at::Tensor g_out;  // [m]
  at::Tensor g_in;   // [beta]
  at::Tensor g_B;    // [m, beta]
};
at::Tensor oa_amp_r(const OaPlane& p, const OaPlaneProblem& q);
OaGates oa_gates(const OaPlane& p, const at::Tensor& R);
// The per-coordinate acceptance A of a proposed step theta -> theta_star under gate g:
// heaviside 1[g > 0], direction 1[(theta* - theta) g >= 0], ternary sgn0(g), off 1.
at::Tensor oa_gate_mask(OaGate mode, const at::Tensor& theta, const at::Tensor& theta_star, const at::Tensor& g);
// theta (1 - A) + theta* A (Eq. 11).
at::Tensor oa_mix(const at::Tensor& theta, const at::Tensor& theta_star, const at::Tensor& A);

// The steps as the schedule applies them (gates evaluated before the update; no-ops for AMP off).
void oa_step_s_in(OaPlane& p, const OaPlaneProblem& q, OaGate gate, OaSolver solver);
void oa_step_s_out(OaPlane& p, const OaPlaneProblem& q, OaGate gate);
void oa_step_b(OaPlane& p, const OaPlaneProblem& q, OaGate gate, OaBForm form, OaBRows rows);

}  // namespace ob1q::quant::detail
