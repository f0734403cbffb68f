// OA block refinement (methods.md §18-§19): ARB-RC initialisation of every plane of the block,
// then the paper's schedule of closed-form steps (oa_updates.cpp) per plane, with the planes
// coupled jointly (block-coordinate descent on the block loss) or independently per group.
#include <ATen/ATen.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "oa_detail.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/quant/oa.hpp"

namespace ob1q::quant {
namespace {

using detail::OaBForm;
using detail::OaBRows;
using detail::OaGate;
using detail::OaPlane;
using detail::OaPlaneProblem;
using detail::OaSolver;

// ---- options ---------------------------------------------------------------------------------

// Index of `value` in `choices`, or ob1q::Error naming the flag and the accepted values.
int choose(const char* flag, const std::string& value, std::initializer_list<const char*> choices) {
  int i = 0;
  std::string expected;
  for (const char* c : choices) {
    if (value == c) return i;
    expected += (i ? ", " : "") + std::string(c);
    ++i;
  }
  fail(flag, "unknown value \"" + value + "\" (expected " + expected + ")");
}

void require(bool ok, const char* flag, const char* what) {
  if (!ok) fail(flag, what);
}

enum class Order2 { Both, First, Skip };

struct Config {
  OaGate gate;
  OaBForm bform;
  OaBRows brows;
  OaSolver solver;
  Order2 order2;
  bool amp_gram_cross;
  bool n_gram_quant;
  bool joint;
  bool init_arbrc;
};

Config parse(const OaOptions& o) {
  require(o.iters >= 0, "--oa-iters", "must be >= 0");
  require(o.k >= 1, "--oa-k", "must be >= 1");
  require(o.bsteps >= 0, "--oa-bsteps", "must be >= 0");
  require(o.sweeps >= 1, "--oa-sweeps", "must be >= 1");
  require(o.rc_iters >= 0, "--oa-init", "ARB-RC iterations must be >= 0");
  Config c{};
  const bool amp_on = choose("--amp", o.amp, {"on", "off"}) == 0;
  const OaGate mask = static_cast<OaGate>(
      1 + choose("--amp-mask", o.amp_mask, {"heaviside", "direction", "ternary"}));  // validated even when off
  c.gate = amp_on ? mask : OaGate::Off;
  c.amp_gram_cross = choose("--oa-amp-gram", o.amp_gram, {"cross", "quant"}) == 0;
  c.n_gram_quant = choose("--oa-n-gram", o.n_gram, {"quant", "cross"}) == 0;
  c.bform = static_cast<OaBForm>(choose("--oa-bform", o.bform, {"exact", "signfixed-2p", "literal"}));
  c.brows = static_cast<OaBRows>(
      choose("--oa-brows", o.brows, {"paper-argmax", "greedy-gain", "all-jacobi", "all-gauss-seidel"}));
  c.joint = choose("--oa-coupling", o.coupling, {"joint", "independent"}) == 0;
  c.order2 = static_cast<Order2>(choose("--oa-order2", o.order2, {"both", "first", "skip"}));
  c.init_arbrc = choose("--oa-init", o.init, {"arbrc", "plain"}) == 0;
  c.solver = static_cast<OaSolver>(choose("--oa-solver", o.solver, {"gelsd-cpu-f64", "pinv", "cholesky-f64"}));
  return c;
}

// ---- block state ----------------------------------------------------------------------------

struct Slot {
  int group;
  int index;  // plane index within the group
  OaPlane p;
};

bool refined(const Slot& s, const MaskGroup& g, Order2 order2) {
  if (g.order != 2) return true;
  return order2 == Order2::Both || (order2 == Order2::First && s.index == 0);
}

// Sum of the reconstructions of all planes except `skip` (-1: none); planes of other groups
// too when `group` is -1, else only those of `group`. Zero where nothing contributes.
at::Tensor sum_planes(const std::vector<Slot>& slots, const at::Tensor& like, size_t skip, int group) {
  at::Tensor sum = at::zeros_like(like);
  for (size_t j = 0; j < slots.size(); ++j)
    if (j != skip && (group < 0 || slots[j].group == group)) sum += slots[j].p.reconstruction();
  return sum;
}

// -2<T, W_hat> + <W_hat S, W_hat> in fp64.
double loss_from_target(const at::Tensor& T, const at::Tensor& S_hat, const at::Tensor& W_hat) {
  const at::Tensor Wh = W_hat.to(at::kDouble);
  return (-2 * (T.to(at::kDouble) * Wh).sum() + (Wh.mm(S_hat.to(at::kDouble)) * Wh).sum()).item<double>();
}

// AMP matrix (§15 and §19 #1): M = T^T T, or the literal mislabel (W S_hat)^T (W S_hat).
at::Tensor amp_matrix(const at::Tensor& T, const at::Tensor& W, const at::Tensor& S_hat, bool cross) {
  const at::Tensor F = cross ? T : W.mm(S_hat);
  return F.t().mm(F);
}

// §18 for one plane. `after(kind, it)` runs after every step.
void run_schedule(OaPlane& p, const OaPlaneProblem& q, const Config& c, const OaOptions& o,
                  const std::function<void(char, int)>& after) {
  for (int it = 0; it < o.iters; ++it) {
    detail::oa_step_s_in(p, q, c.gate, c.solver);
    after('i', it);
    if ((it + 1) % o.k != 0) continue;  // 0-based it = 4, 9, 14 for k = 5, T_oa = 15
    detail::oa_step_s_out(p, q, c.gate);
    after('o', it);
    for (int b = 0; b < o.bsteps; ++b) {
      detail::oa_step_b(p, q, c.gate, c.bform, c.brows);
      after('b', it);
    }
  }
}

void check_inputs(const at::Tensor& W, const at::Tensor& S_hat, const at::Tensor& C, const BlockStructure& st) {
  TORCH_CHECK(W.dim() == 2 && W.scalar_type() == at::kFloat, "oa_refine_block: W must be a 2-D float32 tensor");
  const int64_t beta = W.size(1);
  for (const at::Tensor* G : {&S_hat, &C}) {
    TORCH_CHECK(G->dim() == 2 && G->size(0) == beta && G->size(1) == beta && G->scalar_type() == at::kFloat,
                "oa_refine_block: S_hat and C must be float32 [beta, beta] with beta = W.size(1)");
    TORCH_CHECK(G->device() == W.device(), "oa_refine_block: S_hat and C must be on W's device");
  }
  TORCH_CHECK(!st.groups.empty(), "oa_refine_block: the block structure has no groups");
}

}  // namespace

at::Tensor oa_refine_block(const at::Tensor& W, const at::Tensor& S_hat, const at::Tensor& C,
                           const BlockStructure& st, const OaOptions& opt, OaBlockStats* stats) {
  const Config cfg = parse(opt);
  check_inputs(W, S_hat, C, st);
  const at::Tensor T = W.mm(opt.cross_transpose ? C.t() : C);  // §19 #5
  const at::Tensor N = cfg.n_gram_quant ? S_hat : C;           // §19 #3
  const at::Tensor N_off = N - at::diag(at::diag(N));

  // Initialisation (§18): ARB-RC per group; its B = 0 (exact zero weights) becomes +1.
  std::vector<Slot> slots;
  at::Tensor W_arbrc = at::zeros_like(W);
  at::Tensor coverage = at::zeros_like(W);
  for (size_t g = 0; g < st.groups.size(); ++g) {
    const MaskGroup& grp = st.groups[g];
    const RcResult rc = arb_rc(W, grp.mask, grp.order, cfg.init_arbrc ? opt.rc_iters : 0);
    const at::Tensor G = grp.mask.to(W.device(), at::kFloat);
    W_arbrc += rc.W_hat;
    coverage += G;
    for (size_t k = 0; k < rc.planes.size(); ++k) {
      const RcPlane& r = rc.planes[k];
      OaPlane p{r.a, r.c, at::where(r.B < 0, -G, G), G, G.amax(0) > 0};
      slots.push_back({static_cast<int>(g), static_cast<int>(k), std::move(p)});
    }
  }
  TORCH_CHECK(coverage.eq(1).all().item<bool>(), "oa_refine_block: the groups must be disjoint and cover the block");

  const bool amp = cfg.gate != OaGate::Off;
  const at::Tensor M_block = (cfg.joint && amp) ? amp_matrix(T, W, S_hat, cfg.amp_gram_cross) : at::Tensor();
  // Independent coupling: each group's own target T_g = (W ⊙ 1_G) C and M_g (computed on first use).
  std::vector<at::Tensor> T_group(st.groups.size()), M_group(st.groups.size());

  const bool trace = stats && stats->record_steps;
  if (stats) stats->steps.clear();
  for (int sweep = 0; sweep < opt.sweeps; ++sweep) {
    for (size_t j = 0; j < slots.size(); ++j) {
      Slot& s = slots[j];
      if (!refined(s, st.groups[s.group], cfg.order2)) continue;
      OaPlaneProblem q;
      q.S = S_hat;
      q.N_off = N_off;
      // Joint: everything else in the block; independent: the group's other plane (if any).
      const at::Tensor rest = sum_planes(slots, W, j, cfg.joint ? -1 : s.group);
      at::Tensor T_base = T, M = M_block;
      if (!cfg.joint) {
        if (!T_group[s.group].defined()) {
          const at::Tensor Wg = W * s.p.G;
          T_group[s.group] = Wg.mm(opt.cross_transpose ? C.t() : C);
          if (amp) M_group[s.group] = amp_matrix(T_group[s.group], Wg, S_hat, cfg.amp_gram_cross);
        }
        T_base = T_group[s.group];
        M = M_group[s.group];
      }
      q.T = T_base - rest.mm(S_hat);  // T_eff (§18): the rest's share of the quadratic term
      if (amp) {
        q.M = M;
        q.R_rest = rest.mm(M);
      }
      // The trace always reports the whole block's loss (other groups' planes included).
      const at::Tensor others = cfg.joint ? rest : sum_planes(slots, W, j, -1);
      std::function<void(char, int)> after = [](char, int) {};
      if (trace) {
        after = [&, j, sweep](char kind, int it) {
          const double L = loss_from_target(T, S_hat, others + s.p.reconstruction());
          stats->steps.push_back({static_cast<int>(j), sweep, it, kind, L});
        };
      }
      run_schedule(s.p, q, cfg, opt, after);
    }
  }

  const at::Tensor Q = sum_planes(slots, W, slots.size(), -1);
  if (stats) {
    stats->loss_arbrc = oa_block_loss(W, S_hat, C, W_arbrc);
    stats->loss_oa = oa_block_loss(W, S_hat, C, Q);
    stats->planes.clear();
    for (const Slot& s : slots) stats->planes.push_back({s.group, s.index, s.p.s_out, s.p.s_in, s.p.BG});
  }
  return Q;
}

double oa_block_loss(const at::Tensor& W, const at::Tensor& S_hat, const at::Tensor& C, const at::Tensor& W_hat) {
  return loss_from_target(W.to(at::kDouble).mm(C.to(at::kDouble)), S_hat, W_hat);
}

}  // namespace ob1q::quant
