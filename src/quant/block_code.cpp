// From the binarizers' parameters to the stored block code (pack/binary_code.hpp): the group
// layout of each §8 structure and the planes of every group.
#include <ATen/ATen.h>

#include "ob1q/common/error.hpp"
#include "ob1q/quant/binarize.hpp"

namespace ob1q::quant {

namespace {

pack::GroupSpec spec_of(const std::string& name, int order) {
  if (name == "M_sal") return {name, true, -1, order};
  if (name == "S_hi") return {name, true, 1, order};
  if (name == "S_lo") return {name, true, 0, order};
  if (name == "N_hi") return {name, false, 1, order};
  if (name == "N_lo") return {name, false, 0, order};
  fail("code_layout", "unknown mask group \"" + name + "\"");
}

void set_sign(pack::BlockCode& code, int plane, const at::Tensor& mask, const at::Tensor& B) {
  code.sign[plane].copy_(at::where(mask, B.to(at::kChar), code.sign[plane]));
}

}  // namespace

pack::CodeLayout code_layout(const BlockStructure& s, Family family) {
  pack::CodeLayout l;
  l.formula = family == Family::ArbRc ? pack::Formula::Rc : family == Family::Billm ? pack::Formula::Braq : pack::Formula::Arb;
  for (const MaskGroup& g : s.groups) l.groups.push_back(spec_of(g.name, g.order));
  return l;
}

pack::BlockCode empty_code(const BlockStructure& s, const pack::CodeLayout& layout, const at::Tensor& like) {
  const int64_t m = like.size(0), w = like.size(1);
  pack::BlockCode c;
  c.salient = s.salient.to(like.device());
  c.hi = s.hi.to(like.device());
  c.sign = at::zeros({2, m, w}, like.options().dtype(at::kChar));
  c.row = at::zeros({layout.slots(), m}, like.options());
  if (layout.formula == pack::Formula::Rc) c.col = at::zeros({layout.slots(), w}, like.options());
  if (layout.mean_slots() > 0) c.mean = at::zeros({layout.mean_slots(), m}, like.options());
  return c;
}

void set_rc_plane(pack::BlockCode& code, const pack::CodeLayout& layout, size_t group, int plane, const at::Tensor& mask,
                  const at::Tensor& a, const at::Tensor& c, const at::Tensor& B) {
  const int64_t slot = layout.slot(group, plane);
  code.row[slot].copy_(a);
  code.col[slot].copy_(c);
  set_sign(code, plane, mask, B);
}

pack::BlockCode code_block(const at::Tensor& W, const BlockStructure& s, Family family, int iters, int iters2,
                           const at::Tensor& S) {
  const pack::CodeLayout layout = code_layout(s, family);
  pack::BlockCode code = empty_code(s, layout, W);
  for (size_t g = 0; g < s.groups.size(); ++g) {
    const MaskGroup& grp = s.groups[g];
    const at::Tensor mask = grp.mask.to(W.device());
    if (family == Family::ArbRc) {
      const RcResult r = arb_rc(W, mask, grp.order, iters);
      for (int p = 0; p < grp.order; ++p)
        set_rc_plane(code, layout, g, p, mask, r.planes[p].a, r.planes[p].c, r.planes[p].B);
    } else if (family == Family::Billm) {
      const BraqResult r = braq_params(W, mask, grp.order);
      for (int p = 0; p < grp.order; ++p) {
        code.row[layout.slot(g, p)].copy_(r.planes[p].alpha);
        code.mean[layout.mean_slot(g, p)].copy_(r.mu[p]);
        set_sign(code, p, mask, r.planes[p].B);
      }
    } else {
      const ArbResult r = family == Family::Arb ? arb_params(W, mask, grp.order, iters)
                                                : arb_x_params(W, mask, grp.order, S, iters, iters2);
      code.mean[layout.mean_slot(g, 0)].copy_(r.mu);
      for (int p = 0; p < grp.order; ++p) {
        code.row[layout.slot(g, p)].copy_(r.planes[p].alpha);
        set_sign(code, p, mask, r.planes[p].B);
      }
    }
  }
  return code;
}

at::Tensor binarize_block(const at::Tensor& W, const BlockStructure& s, Family family, int iters, int iters2,
                          const at::Tensor& S) {
  return pack::dequantize_block(code_layout(s, family), code_block(W, s, family, iters, iters2, S));
}

}  // namespace ob1q::quant
