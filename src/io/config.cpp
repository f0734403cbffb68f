#include "ob1q/io/config.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"

namespace ob1q::io {
namespace {

using json = nlohmann::json;

int64_t get_int(const json& j, const char* key, const std::string& where, int64_t dflt, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) fail(where, std::string("missing required key \"") + key + "\"");
    return dflt;
  }
  if (!it->is_number_integer()) fail(where, std::string("\"") + key + "\" must be an integer");
  return it->get<int64_t>();
}

double get_num(const json& j, const char* key, const std::string& where, double dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_number()) fail(where, std::string("\"") + key + "\" must be a number");
  return it->get<double>();
}

bool get_bool(const json& j, const char* key, const std::string& where, bool dflt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) fail(where, std::string("\"") + key + "\" must be true or false");
  return it->get<bool>();
}

std::string get_str(const json& j, const char* key, const std::string& dflt) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : dflt;
}

// eos_token_id may be a list in newer configs (LLaMA-3 instruct); keep the first.
int64_t get_token_id(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return -1;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) return (*it)[0].get<int64_t>();
  return -1;
}

void parse_rope(const json& j, const std::string& where, RopeConfig& rope) {
  // transformers 5: rope_parameters {rope_type, rope_theta, factor, ...};
  // transformers 4: rope_theta + rope_scaling {rope_type|type, factor, ...}.
  rope.theta = get_num(j, "rope_theta", where, 10000.0);
  rope.partial_rotary_factor = get_num(j, "partial_rotary_factor", where, 1.0);
  const json* params = nullptr;
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    auto it = j.find(key);
    if (it != j.end() && it->is_object()) params = &*it;
  }
  if (!params) return;
  const json& p = *params;
  rope.theta = get_num(p, "rope_theta", where, rope.theta);
  rope.type = get_str(p, "rope_type", get_str(p, "type", "default"));
  rope.factor = get_num(p, "factor", where, 1.0);
  rope.low_freq_factor = get_num(p, "low_freq_factor", where, 1.0);
  rope.high_freq_factor = get_num(p, "high_freq_factor", where, 4.0);
  rope.original_max_position_embeddings = get_int(p, "original_max_position_embeddings", where, 0, false);
  rope.partial_rotary_factor = get_num(p, "partial_rotary_factor", where, rope.partial_rotary_factor);
  if (rope.type != "default" && rope.type != "llama3" && rope.type != "linear")
    fail(where, "unsupported rope type \"" + rope.type + "\" (supported: default, linear, llama3)");
  if (rope.type == "llama3" && rope.original_max_position_embeddings <= 0)
    fail(where, "llama3 rope scaling needs original_max_position_embeddings");
}

void positive(const std::string& where, const char* what, int64_t v) {
  if (v <= 0) fail(where, std::string(what) + " must be positive (got " + std::to_string(v) + ")");
}

// A size transformers takes as None when null: absent -> `dflt`, null -> 0 (none), else positive.
int64_t get_optional_size(const json& j, const char* key, const std::string& where, int64_t dflt) {
  auto it = j.find(key);
  if (it == j.end()) return dflt;
  if (it->is_null()) return 0;
  const int64_t v = get_int(j, key, where, 0, true);
  positive(where, key, v);
  return v;
}

// The same for a positive number (Gemma-2's softcaps).
double get_optional_positive(const json& j, const char* key, const std::string& where, double dflt) {
  auto it = j.find(key);
  if (it == j.end()) return dflt;
  if (it->is_null()) return 0;
  const double v = get_num(j, key, where, 0);
  if (!(v > 0)) fail(where, std::string("\"") + key + "\" must be a positive number or null");
  return v;
}

// Which layers use sliding-window attention, as each family's transformers config decides it.
void parse_windows(const json& j, const std::string& where, ModelConfig& c) {
  const std::string& t = c.model_type;
  int64_t window = 0;
  std::vector<bool> sliding(size_t(c.num_layers), true);  // mistral, phi3: every layer
  if (t == "mistral" || t == "phi3") {
    window = get_optional_size(j, "sliding_window", where, t == "mistral" ? 4096 : 0);
  } else if (t == "qwen2" || t == "qwen3" || t == "gemma2") {
    // Qwen: the window only when use_sliding_window, on layers >= max_window_layers; Gemma-2: on
    // the even layers. transformers 5 writes the result as layer_types, which wins when present.
    window = get_optional_size(j, "sliding_window", where, 4096);
    if (t != "gemma2" && !get_bool(j, "use_sliding_window", where, false)) window = 0;
    const int64_t first = t == "gemma2" ? 0 : get_int(j, "max_window_layers", where, 28, false);
    for (int64_t i = 0; i < c.num_layers; ++i) sliding[size_t(i)] = t == "gemma2" ? i % 2 == 0 : i >= first;
    auto types = j.find("layer_types");
    if (types != j.end() && !types->is_null()) {
      if (!types->is_array() || int64_t(types->size()) != c.num_layers)
        fail(where, "\"layer_types\" must list one entry per layer (" + std::to_string(c.num_layers) + ")");
      for (size_t i = 0; i < types->size(); ++i) {
        const json& e = (*types)[i];
        if (e != "full_attention" && e != "sliding_attention")
          fail(where, "\"layer_types\" entry " + std::to_string(i) + " is " + e.dump() +
                          " (supported: full_attention, sliding_attention)");
        sliding[i] = e == "sliding_attention";
      }
    }
  }
  if (window == 0) return;
  c.layer_window.assign(size_t(c.num_layers), 0);
  for (int64_t i = 0; i < c.num_layers; ++i) c.layer_window[size_t(i)] = sliding[size_t(i)] ? window : 0;
}

// LLaMA and the families derived from it, with each family's transformers defaults.
void parse_rotary(const json& j, const std::string& where, ModelConfig& c) {
  const std::string& t = c.model_type;
  const bool gemma = t == "gemma2";
  c.intermediate_size = get_int(j, "intermediate_size", where, 0, true);
  c.num_kv_heads = get_int(j, "num_key_value_heads", where, c.num_heads, false);
  c.head_dim = get_int(j, "head_dim", where, c.hidden_size / c.num_heads, false);
  c.norm_eps = get_num(j, "rms_norm_eps", where, t == "phi3" ? 1e-5 : 1e-6);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", where, gemma);
  c.activation = gemma ? get_str(j, "hidden_activation", "gelu_pytorch_tanh") : get_str(j, "hidden_act", "silu");
  // Only these families read attention_bias: Qwen2's q/k/v always have biases, Mistral's and Phi-3's never.
  if (t == "llama" || t == "qwen3" || gemma) c.attention_bias = get_bool(j, "attention_bias", where, false);
  if (t == "llama") c.mlp_bias = get_bool(j, "mlp_bias", where, false);
  parse_rope(j, where, c.rope);
  parse_windows(j, where, c);
  if (gemma) {
    c.query_pre_attn_scalar = get_num(j, "query_pre_attn_scalar", where, 256);
    if (!(c.query_pre_attn_scalar > 0)) fail(where, "\"query_pre_attn_scalar\" must be positive");
    c.attn_logit_softcapping = get_optional_positive(j, "attn_logit_softcapping", where, 50.0);
    c.final_logit_softcapping = get_optional_positive(j, "final_logit_softcapping", where, 30.0);
  }
  const double prf = c.rope.partial_rotary_factor;
  if (t == "phi3" ? !(prf > 0 && prf <= 1) : prf != 1.0)
    fail(where, "unsupported partial_rotary_factor " + std::to_string(prf) + " for " + t +
                    (t == "phi3" ? " (must be in (0, 1])" : " (only phi3 rotates part of a head)"));
  if (c.rotary_dim() <= 0 || c.rotary_dim() % 2 != 0)
    fail(where, "head_dim * partial_rotary_factor must be a positive even number of channels (got " +
                    std::to_string(c.rotary_dim()) + ")");
  const bool act_ok = t == "llama" ? c.activation == "silu"
                                   : c.activation == "silu" || c.activation == "gelu" || c.activation == "gelu_pytorch_tanh";
  if (!act_ok)
    fail(where, "unsupported " + std::string(gemma ? "hidden_activation" : "hidden_act") + " \"" + c.activation + "\" for " +
                    t + (t == "llama" ? " (supported: silu)" : " (supported: silu, gelu, gelu_pytorch_tanh)"));
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0)
    fail(where, "num_attention_heads must be a multiple of num_key_value_heads");
}

}  // namespace

const std::vector<std::string>& supported_model_types() {
  static const std::vector<std::string> types = {"llama", "opt", "qwen2", "qwen3", "mistral", "phi3", "gemma2"};
  return types;
}

ModelConfig ModelConfig::load(const std::string& path) {
  refuse_unfinished_output(path);
  std::string file = dir_exists(path) ? path_join(path, "config.json") : path;
  if (!file_exists(file)) fail(file, "missing config.json");
  json j;
  try {
    j = json::parse(read_file(file));
  } catch (const json::exception& e) {
    fail(file, std::string("invalid JSON: ") + e.what());
  }
  return parse(j, file);
}

ModelConfig ModelConfig::parse(const json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "config must be a JSON object");
  ModelConfig c;
  c.source = where;
  c.model_type = get_str(j, "model_type", "");
  if (c.model_type.empty()) fail(where, "missing \"model_type\"");
  const auto& types = supported_model_types();
  if (std::find(types.begin(), types.end(), c.model_type) == types.end()) {
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    fail(where, "unsupported model_type \"" + c.model_type + "\" (supported: " + list + ")");
  }
  c.dtype = get_str(j, "dtype", get_str(j, "torch_dtype", "float16"));
  c.vocab_size = get_int(j, "vocab_size", where, 0, true);
  c.hidden_size = get_int(j, "hidden_size", where, 0, true);
  c.num_layers = get_int(j, "num_hidden_layers", where, 0, true);
  c.num_heads = get_int(j, "num_attention_heads", where, 0, true);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", where, 2048, false);
  c.bos_token_id = get_token_id(j, "bos_token_id");
  c.eos_token_id = get_token_id(j, "eos_token_id");
  positive(where, "vocab_size", c.vocab_size);
  positive(where, "hidden_size", c.hidden_size);
  positive(where, "num_hidden_layers", c.num_layers);
  positive(where, "num_attention_heads", c.num_heads);

  if (!c.is_opt()) {
    parse_rotary(j, where, c);
  } else {
    c.intermediate_size = get_int(j, "ffn_dim", where, 0, true);
    c.num_kv_heads = c.num_heads;
    if (c.hidden_size % c.num_heads != 0) fail(where, "hidden_size must be a multiple of num_attention_heads");
    c.head_dim = c.hidden_size / c.num_heads;
    c.norm_eps = 1e-5;
    c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", where, true);
    c.activation = get_str(j, "activation_function", "relu");
    c.do_layer_norm_before = get_bool(j, "do_layer_norm_before", where, true);
    c.final_layer_norm = c.do_layer_norm_before && !get_bool(j, "_remove_final_layer_norm", where, false);
    c.word_embed_proj_dim = get_int(j, "word_embed_proj_dim", where, c.hidden_size, false);
    c.enable_bias = get_bool(j, "enable_bias", where, true);
    c.layer_norm_elementwise_affine = get_bool(j, "layer_norm_elementwise_affine", where, true);
    if (c.activation != "relu" && c.activation != "gelu")
      fail(where, "unsupported activation_function \"" + c.activation + "\" for opt (supported: relu, gelu)");
    positive(where, "word_embed_proj_dim", c.word_embed_proj_dim);
  }
  positive(where, "intermediate_size/ffn_dim", c.intermediate_size);
  positive(where, "head_dim", c.head_dim);
  return c;
}

}  // namespace ob1q::io
