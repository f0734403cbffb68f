// Hugging Face config.json for the decoder families ob1q supports (LLaMA-1/2/3, OPT, Qwen2/2.5,
// Qwen3, Mistral, Phi-3, Gemma-2), accepting both transformers-4 keys (torch_dtype, rope_theta,
// rope_scaling) and transformers-5 keys (dtype, rope_parameters, layer_types).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ob1q::io {

struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";  // "default" | "llama3" | "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
  double partial_rotary_factor = 1.0;  // Phi-3: rotate the first int(head_dim * factor) channels only
};

// The model_type values config.json may name, in the order messages list them.
const std::vector<std::string>& supported_model_types();

struct ModelConfig {
  std::string model_type;  // one of supported_model_types()
  std::string source;      // path of the config.json it came from (for messages)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // LLaMA intermediate_size, OPT ffn_dim
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 2048;
  double norm_eps = 1e-5;
  bool tie_word_embeddings = false;
  std::string dtype = "float16";  // storage dtype the checkpoint declares
  std::string activation = "silu";  // silu | gelu | gelu_pytorch_tanh (OPT: relu | gelu)
  // LLaMA and its descendants
  RopeConfig rope;
  bool attention_bias = false;  // the attention_bias key (LLaMA, Qwen3, Gemma-2; Qwen2's q/k/v biases are structural)
  bool mlp_bias = false;
  // Sliding-window attention: a query of layer i sees at most layer_window[i] keys, itself included
  // (0 = every earlier key). Empty when no layer has a window.
  std::vector<int64_t> layer_window;
  // Gemma-2: attention scale query_pre_attn_scalar^-0.5 (0: head_dim^-0.5), and tanh softcapping
  // cap * tanh(x / cap) of the attention scores and of the final logits (0: none).
  double query_pre_attn_scalar = 0;
  double attn_logit_softcapping = 0;
  double final_logit_softcapping = 0;
  // OPT
  bool do_layer_norm_before = true;
  bool final_layer_norm = true;  // OPT: do_layer_norm_before && !_remove_final_layer_norm
  int64_t word_embed_proj_dim = 0;
  bool enable_bias = true;
  bool layer_norm_elementwise_affine = true;
  int64_t position_offset = 2;  // OPT learned positions are shifted by 2
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  bool is_llama() const { return model_type == "llama"; }
  bool is_opt() const { return model_type == "opt"; }
  int64_t window_of(int64_t layer) const {
    return layer >= 0 && layer < int64_t(layer_window.size()) ? layer_window[size_t(layer)] : 0;
  }
  int64_t rotary_dim() const { return int64_t(double(head_dim) * rope.partial_rotary_factor); }

  // `path` is a model directory (config.json inside) or a config.json file.
  static ModelConfig load(const std::string& path);
  static ModelConfig parse(const nlohmann::json& j, const std::string& where);
};

}  // namespace ob1q::io
