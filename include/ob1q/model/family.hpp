// One table per model family (HF model_type): the linears of a decoder block in forward order,
// which of them read the same input (the quantizer accumulates one Hessian for those), which one
// is the block's final FC (OA's default target), and the structural details that set the
// LLaMA-derived families apart. Everything that asks "which linears" or "which is the final FC"
// reads it here instead of branching on the family.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ob1q/io/config.hpp"

namespace ob1q::model {

class DecoderModel;
class WeightReader;
struct LoadOptions;

struct FamilyLinear {
  std::string name;  // within the block, as in HF: "self_attn.q_proj"
  int input = 0;     // linears with the same number read the same tensor
};

// How a LLaMA-derived block differs from LLaMA's (unused by OPT).
struct RotaryTraits {
  bool qkv_bias = false;        // q/k/v always carry biases (Qwen2), whatever attention_bias says
  bool qk_norm = false;         // per-head RMSNorm on q and k before the rotary embedding (Qwen3)
  bool fused = false;           // one qkv_proj and one gate_up_proj (Phi-3)
  bool gemma_norms = false;     // RMSNorm computed in fp32 as x * (1 + w), embeddings scaled by sqrt(hidden)
  bool sandwich_norms = false;  // post-norms after attention and MLP, pre_feedforward_layernorm (Gemma-2)
};

struct FamilyTable {
  std::string model_type;
  std::string models;                 // what it covers, for messages and docs: "Qwen2, Qwen2.5"
  std::vector<FamilyLinear> linears;  // the quantizable linears of a block, in forward order
  std::string final_fc;               // the block's final FC, e.g. "mlp.down_proj"
  RotaryTraits rotary;
  std::unique_ptr<DecoderModel> (*make)(const io::ModelConfig&, const WeightReader&, const LoadOptions&) = nullptr;

  const FamilyLinear& linear(const std::string& name) const;  // throws for an unknown name
  bool has(const std::string& name) const;
};

// Every family, in io::supported_model_types() order.
const std::vector<FamilyTable>& families();
// The row of `model_type`; throws ob1q::Error listing every supported family when there is none.
const FamilyTable& family_table(const std::string& model_type);

}  // namespace ob1q::model
