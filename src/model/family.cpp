// The family rows. Names and structure as transformers 5 implements each family
// (models/<family>/modeling_<family>.py); the final FC is the linear that writes the MLP's output
// back to the residual stream.
#include "ob1q/model/family.hpp"

#include "ob1q/common/error.hpp"
#include "ob1q/model/decoder.hpp"

namespace ob1q::model {

namespace {

// q/k/v read the attention input, gate/up the MLP input.
const std::vector<FamilyLinear> kLlamaLinears = {{"self_attn.q_proj", 0}, {"self_attn.k_proj", 0}, {"self_attn.v_proj", 0},
                                                 {"self_attn.o_proj", 1}, {"mlp.gate_proj", 2},    {"mlp.up_proj", 2},
                                                 {"mlp.down_proj", 3}};

FamilyTable rotary(const char* type, const char* models, RotaryTraits traits) {
  FamilyTable f;
  f.model_type = type;
  f.models = models;
  f.rotary = traits;
  if (traits.fused)  // Phi-3: q, k, v rows in one matrix; gate rows then up rows in another
    f.linears = {{"self_attn.qkv_proj", 0}, {"self_attn.o_proj", 1}, {"mlp.gate_up_proj", 2}, {"mlp.down_proj", 3}};
  else
    f.linears = kLlamaLinears;
  f.final_fc = "mlp.down_proj";
  f.make = make_rotary;
  return f;
}

std::vector<FamilyTable> build() {
  std::vector<FamilyTable> rows;
  FamilyTable llama = rotary("llama", "LLaMA-1/2/3", {});
  llama.make = make_llama;
  rows.push_back(llama);
  FamilyTable opt;
  opt.model_type = "opt";
  opt.models = "OPT";
  opt.linears = {{"self_attn.q_proj", 0}, {"self_attn.k_proj", 0}, {"self_attn.v_proj", 0},
                 {"self_attn.out_proj", 1}, {"fc1", 2}, {"fc2", 3}};
  opt.final_fc = "fc2";
  opt.make = make_opt;
  rows.push_back(opt);
  RotaryTraits t;
  t.qkv_bias = true;
  rows.push_back(rotary("qwen2", "Qwen2, Qwen2.5", t));
  t = {};
  t.qk_norm = true;
  rows.push_back(rotary("qwen3", "Qwen3", t));
  rows.push_back(rotary("mistral", "Mistral", {}));
  t = {};
  t.fused = true;
  rows.push_back(rotary("phi3", "Phi-3", t));
  t = {};
  t.gemma_norms = t.sandwich_norms = true;
  rows.push_back(rotary("gemma2", "Gemma-2", t));
  return rows;
}

}  // namespace

const FamilyLinear& FamilyTable::linear(const std::string& name) const {
  for (const FamilyLinear& l : linears)
    if (l.name == name) return l;
  fail(model_type, "no linear named \"" + name + "\" in a block");
}

bool FamilyTable::has(const std::string& name) const {
  for (const FamilyLinear& l : linears)
    if (l.name == name) return true;
  return false;
}

const std::vector<FamilyTable>& families() {
  static const std::vector<FamilyTable> rows = build();
  return rows;
}

const FamilyTable& family_table(const std::string& model_type) {
  std::string list;
  for (const FamilyTable& f : families()) {
    if (f.model_type == model_type) return f;
    list += (list.empty() ? "" : ", ") + f.model_type;
  }
  fail("model_type", "unsupported model_type \"" + model_type + "\" (supported: " + list + ")");
}

}  // namespace ob1q::model
