// Hugging Face config.json for the decoder families ob1q supports (LLaMA-1/2/3, OPT), accepting
// both transformers-4 keys (torch_dtype, rope_theta, rope_scaling) and transformers-5 keys
// (dtype, rope_parameters).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace ob1q::io {

struct RopeConfig {
  double theta = 10000.0;
  std::string type = "default";  // "default" | "llama3" | "linear"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 0;
};

struct ModelConfig {
  std::string model_type;  // "llama" | "opt"
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
  std::string activation = "silu";
  // LLaMA
  RopeConfig rope;
  bool attention_bias = false;
  bool mlp_bias = false;
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

  // `path` is a model directory (config.json inside) or a config.json file.
  static ModelConfig load(const std::string& path);
  static ModelConfig parse(const nlohmann::json& j, const std::string& where);
};

}  // namespace ob1q::io
