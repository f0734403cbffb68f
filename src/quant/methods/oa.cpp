// OA, the paper's method (methods.md §15-§18): ARB-RC (+CGB) everywhere, and on the final linear of
// every decoder block (its family's final FC: OPT fc2, the others mlp.down_proj; --oa-layers) each block of input channels is
// refined against the full-precision output X W^T instead of the weights (cross Gram C_J from the
// fp-stream), with Attention-Matrix-Preservation gates.
#include <ATen/ATen.h>

#include <sstream>

#include "ob1q/common/error.hpp"
#include "ob1q/quant/binary_gptq.hpp"
#include "ob1q/quant/oa.hpp"

namespace ob1q::quant {

using at::indexing::Slice;

namespace {

// The '|'-separated suffixes of --oa-layers; "final_fc" stands for the family's final FC.
std::vector<std::string> split_layers(const std::string& s, const ModelContext& ctx) {
  std::vector<std::string> out;
  std::string item;
  std::stringstream ss(s);
  while (std::getline(ss, item, '|'))
    if (!item.empty()) out.push_back(item == "final_fc" ? ctx.final_fc : item);
  return out;
}

class Oa : public Method {
 public:
  Oa(const Params& p, const ModelContext& ctx)
      : c_(BinaryGptqConfig::from(Family::ArbRc, p)), layers_(split_layers(p.get_string("oa_layers"), ctx)) {
    o_.iters = static_cast<int>(p.get_int("oa_iters"));
    o_.k = static_cast<int>(p.get_int("oa_k"));
    o_.bsteps = static_cast<int>(p.get_int("oa_bsteps"));
    o_.amp = p.get_string("amp");
    o_.amp_mask = p.get_string("amp_mask");
    o_.amp_gram = p.get_string("oa_amp_gram");
    o_.n_gram = p.get_string("oa_n_gram");
    o_.bform = p.get_string("oa_bform");
    o_.cross_transpose = p.get_bool("oa_cross_transpose");
    o_.brows = p.get_string("oa_brows");
    o_.coupling = p.get_string("oa_coupling");
    o_.order2 = p.get_string("oa_order2");
    o_.init = p.get_string("oa_init");
    o_.sweeps = static_cast<int>(p.get_int("oa_sweeps"));
    o_.solver = p.get_string("oa_solver");
    o_.rc_iters = c_.iters;
    objective_ = p.get_string("oa_objective");
    damp_ = p.get_double("oa_damp");
    if (damp_ < 0) fail("--oa-damp", "must not be negative");
    target_ = p.get_string("oa_target");
    if (objective_ != "output" && objective_ != "act") fail("--oa-objective", "expected output or act");
    if (target_ != "compensated" && target_ != "original") fail("--oa-target", "expected compensated or original");
    xhat_ = p.get_string("oa_xhat");
    if (xhat_ != "block-start" && xhat_ != "true-seq") fail("--oa-xhat", "expected block-start or true-seq");
    for (const auto& l : layers_)
      if (l.empty()) fail("--oa-layers", "final_fc is unknown for this model");
    if (layers_.empty()) fail("--oa-layers", "names no layer");
    if (o_.iters < 0 || o_.k < 1 || o_.bsteps < 0 || o_.sweeps < 1) fail("--oa-iters/--oa-k", "out of range");
  }

  bool recapture(const std::string& name) const override { return xhat_ == "true-seq" && is_oa_layer(name); }

  int64_t cross_gram_blocksize(const std::string& name) const override {
    return objective_ == "output" && is_oa_layer(name) ? c_.driver.blocksize : 0;
  }

  LinearResult quantize(const std::string& layer, const at::Tensor& W, const LinearStats& s) const override {
    if (!is_oa_layer(layer)) return run_binary_gptq(layer, W, s, c_, arb_rc_block());
    if (objective_ == "output" && !s.C_blocks.defined()) fail(layer, "OA needs the cross Gram (internal error)");
    double loss_rc = 0, loss_oa = 0;
    auto refine = [&](const at::Tensor& WJ, const BlockStructure& st, const BlockContext& ctx) {
      const int64_t w = WJ.size(1);
      at::Tensor target = target_ == "original"
                              ? s.W_original.index({Slice(), Slice(ctx.col0, ctx.col0 + w)}).to(at::kFloat)
                              : WJ;
      at::Tensor C = objective_ == "act" ? ctx.S : s.C_blocks[ctx.col0 / c_.driver.blocksize].to(WJ.device());
      at::Tensor S = ctx.S;
      if (damp_ > 0) {
        // Not in the paper: lambda * ||W - W_hat||^2 (lambda = oa_damp * mean diag S_hat) added to the
        // block loss, i.e. S_hat + lambda I and C + lambda I. Keeps channels the calibration data
        // barely excites from drifting (like GPTQ's percdamp).
        at::Tensor eye = at::eye(S.size(0), S.options()) * (damp_ * S.diagonal().mean());
        S = S + eye, C = C + eye;
      }
      OaBlockStats bs;
      oa_refine_block(target, S, C, st, o_, &bs);
      loss_rc += bs.loss_arbrc, loss_oa += bs.loss_oa;
      const pack::CodeLayout layout = code_layout(st, Family::ArbRc);
      pack::BlockCode code = empty_code(st, layout, WJ);
      for (const auto& p : bs.planes)
        set_rc_plane(code, layout, p.group, p.plane, st.groups[p.group].mask.to(WJ.device()), p.s_out, p.s_in, p.B);
      return code;
    };
    LinearResult r = run_binary_gptq(layer, W, s, c_, refine);
    r.stats["oa"] = true;
    r.stats["block_loss_arbrc"] = loss_rc;  // sum over blocks of the §15 block loss (minus its constant)
    r.stats["block_loss_oa"] = loss_oa;
    return r;
  }

 private:
  bool is_oa_layer(const std::string& name) const {
    for (const auto& l : layers_)
      if (name == l || (name.size() > l.size() && name.compare(name.size() - l.size(), l.size(), l) == 0 &&
                        name[name.size() - l.size() - 1] == '.'))
        return true;
    return false;
  }
  BlockBinarizer arb_rc_block() const {
    return [this](const at::Tensor& WJ, const BlockStructure& st, const BlockContext& ctx) {
      return code_block(WJ, st, Family::ArbRc, c_.iters, 0, ctx.S);
    };
  }

  BinaryGptqConfig c_;
  std::vector<std::string> layers_;
  OaOptions o_;
  std::string objective_, target_, xhat_;
  double damp_ = 0;
};

nlohmann::json oa_defaults() {
  nlohmann::json j = binary_gptq_defaults(Family::ArbRc);
  const OaOptions d;
  j.update({{"oa_layers", "final_fc"},       {"oa_iters", d.iters},       {"oa_k", d.k},
            {"oa_bsteps", d.bsteps},         {"amp", d.amp},              {"amp_mask", d.amp_mask},
            {"oa_amp_gram", d.amp_gram},     {"oa_n_gram", d.n_gram},     {"oa_bform", d.bform},
            {"oa_cross_transpose", false},   {"oa_brows", d.brows},       {"oa_coupling", d.coupling},
            {"oa_order2", d.order2},         {"oa_init", d.init},         {"oa_sweeps", d.sweeps},
            {"oa_solver", d.solver},         {"oa_objective", "output"},  {"oa_target", "compensated"},
            {"oa_xhat", "block-start"},      {"oa_damp", 0.0}});
  return j;
}

}  // namespace

MethodInfo oa_method() {
  return {"oa", "OA (the paper): ARB-RC + output alignment with AMP on each block's final linear", oa_defaults(),
          [](const Params& p, const ModelContext& ctx) { return std::make_unique<Oa>(p, ctx); }};
}

}  // namespace ob1q::quant
