#include "ob1q/pack/binary_code.hpp"

#include <ATen/ATen.h>

#include "ob1q/common/error.hpp"

namespace ob1q::pack {

const char* formula_name(Formula f) {
  switch (f) {
    case Formula::Rc: return "rc";
    case Formula::Arb: return "arb";
    case Formula::Braq: return "braq";
  }
  return "?";
}

Formula parse_formula(const std::string& s) {
  if (s == "rc") return Formula::Rc;
  if (s == "arb") return Formula::Arb;
  if (s == "braq") return Formula::Braq;
  fail("formula", "unknown formula \"" + s + "\" (expected rc, arb or braq)");
}

int64_t CodeLayout::slots() const {
  int64_t n = 0;
  for (const auto& g : groups) n += g.planes;
  return n;
}

int64_t CodeLayout::mean_slots() const {
  switch (formula) {
    case Formula::Rc: return 0;
    case Formula::Arb: return static_cast<int64_t>(groups.size());
    case Formula::Braq: return slots();
  }
  return 0;
}

int64_t CodeLayout::slot(size_t group, int plane) const {
  int64_t n = 0;
  for (size_t g = 0; g < group; ++g) n += groups[g].planes;
  return n + plane;
}

int64_t CodeLayout::mean_slot(size_t group, int plane) const {
  return formula == Formula::Arb ? static_cast<int64_t>(group) : slot(group, plane);
}

nlohmann::json CodeLayout::to_json() const {
  nlohmann::json g = nlohmann::json::array();
  for (const auto& s : groups)
    g.push_back({{"name", s.name}, {"salient", s.salient}, {"hi", s.hi < 0 ? nlohmann::json() : nlohmann::json(s.hi == 1)},
                 {"planes", s.planes}});
  return {{"formula", formula_name(formula)}, {"groups", g}};
}

CodeLayout CodeLayout::from_json(const nlohmann::json& j, const std::string& where) {
  CodeLayout l;
  try {
    l.formula = parse_formula(j.at("formula").get<std::string>());
    for (const auto& g : j.at("groups")) {
      GroupSpec s;
      s.name = g.at("name").get<std::string>();
      s.salient = g.at("salient").get<bool>();
      s.hi = g.at("hi").is_null() ? -1 : (g.at("hi").get<bool>() ? 1 : 0);
      s.planes = g.at("planes").get<int>();
      if (s.planes != 1 && s.planes != 2) fail(where, "group " + s.name + ": planes must be 1 or 2");
      if (s.planes == 2 && !s.salient) fail(where, "group " + s.name + ": only salient groups can have 2 planes");
      l.groups.push_back(s);
    }
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("malformed group layout: ") + e.what());
  }
  if (l.groups.empty()) fail(where, "the group layout lists no groups");
  return l;
}

void round_scales(BlockCode& code, at::ScalarType storage) {
  for (at::Tensor* t : {&code.row, &code.col, &code.mean})
    if (t->defined()) *t = t->to(storage).to(at::kFloat);
}

std::vector<at::Tensor> group_masks(const CodeLayout& layout, const BlockCode& code) {
  const at::Tensor sal = code.salient.view({1, -1});
  at::Tensor taken = at::zeros_like(code.hi);
  std::vector<at::Tensor> masks;
  for (const auto& g : layout.groups) {
    at::Tensor m = g.salient ? sal.expand_as(code.hi) : ~sal.expand_as(code.hi);
    if (g.hi == 1) m = m & code.hi;
    if (g.hi == 0) m = m & ~code.hi;
    m = m & ~taken;  // first matching group wins
    taken = taken | m;
    masks.push_back(m);
  }
  return masks;
}

at::Tensor dequantize_block(const CodeLayout& layout, const BlockCode& code) {
  const std::vector<at::Tensor> masks = group_masks(layout, code);
  const at::Tensor s = code.sign.to(at::kFloat);
  at::Tensor Q = at::zeros(code.hi.sizes(), code.row.options());
  for (size_t g = 0; g < layout.groups.size(); ++g) {
    at::Tensor part;
    for (int p = 0; p < layout.groups[g].planes; ++p) {
      const at::Tensor a = code.row[layout.slot(g, p)].unsqueeze(1);
      at::Tensor term;
      switch (layout.formula) {
        case Formula::Rc: term = (a * code.col[layout.slot(g, p)].unsqueeze(0)) * s[p]; break;
        case Formula::Arb: term = a * s[p]; break;
        case Formula::Braq: term = a * s[p] + code.mean[layout.mean_slot(g, p)].unsqueeze(1); break;
      }
      part = p == 0 ? term : part + term;
    }
    if (layout.formula == Formula::Arb) part = part + code.mean[layout.mean_slot(g, 0)].unsqueeze(1);
    Q = at::where(masks[g], part, Q);
  }
  return Q;
}

}  // namespace ob1q::pack
