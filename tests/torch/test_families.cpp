// The families of issue 13 (qwen2, qwen3, mistral, phi3, gemma2) next to LLaMA and OPT.
// - With the fixtures of scripts/reference/make_family_fixtures.py (tests/fixtures/families, written
//   by transformers): logits parity per family, and for each family detail a copy of the fixture
//   without it whose logits move by more than the tolerance (so the fixture can tell them apart).
// - Always (small random checkpoints written here in each family's layout): the family tables,
//   config.json rules, identities with LLaMA that the families must satisfy, the sliding-window
//   convention against a shorter input, KV-cache decoding against recomputation, and quantize ->
//   packed -> eval / inspect / export end to end.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/eval/perplexity.hpp"
#include "ob1q/io/config.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/model/decoder.hpp"
#include "ob1q/model/family.hpp"
#include "ob1q/pack/checkpoint.hpp"
#include "ob1q/quant/pipeline.hpp"
#include "test_support.hpp"

using namespace ob1q;
using nlohmann::json;

namespace {

using Tensors = std::map<std::string, at::Tensor>;

const std::vector<std::string> kNewFamilies = {"qwen2", "qwen3", "mistral", "phi3", "gemma2"};
constexpr double kTolerance = 1e-3;  // max |delta logit| against transformers, fp32 on the CPU

// ---- checkpoints on disk ---------------------------------------------------------------------------

Tensors read_tensors(const std::string& dir) {
  auto w = io::CheckpointWeights::open(dir);
  Tensors t;
  for (const std::string& name : w->checkpoint().names()) t[name] = w->load(name, at::kFloat, c10::kCPU);
  return t;
}

void write_checkpoint(const std::string& dir, const json& config, const Tensors& tensors) {
  io::SafetensorsWriter w;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.to(at::kFloat).contiguous();
    w.add(name, io::DType::F32, c.sizes().vec(), c.data_ptr(), size_t(c.numel()) * sizeof(float));
  }
  w.write(dir + "/model.safetensors");
  write_file_atomic(dir + "/config.json", config.dump(2));
}

json read_config(const std::string& dir) { return json::parse(read_file(dir + "/config.json")); }

// A copy of a checkpoint with its config and tensors edited.
std::string edited_copy(const std::string& dir, const std::function<void(json&, Tensors&)>& edit) {
  json cfg = read_config(dir);
  Tensors t = read_tensors(dir);
  edit(cfg, t);
  const std::string out = test::temp_dir("family-edit");
  write_checkpoint(out, cfg, t);
  return out;
}

at::Tensor logits_of(const std::string& dir, const at::Tensor& ids) {
  return model::DecoderModel::load(dir, model::LoadOptions{})->forward(ids.unsqueeze(0))[0];
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// ---- small random checkpoints in each family's layout ----------------------------------------------

json base_config(const std::string& type) {
  json c = {{"model_type", type}, {"vocab_size", 96}, {"hidden_size", 32}, {"intermediate_size", 40},
            {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8},
            {"max_position_embeddings", 128}, {"rms_norm_eps", 1e-6}, {"tie_word_embeddings", false},
            {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}};
  if (type == "qwen2") c["use_sliding_window"] = false;
  if (type == "mistral") c["sliding_window"] = 6;
  if (type == "phi3") {
    c["sliding_window"] = 10;
    c["rope_parameters"]["partial_rotary_factor"] = 0.5;
  }
  if (type == "gemma2") {
    c.update({{"sliding_window", 6}, {"query_pre_attn_scalar", 12}, {"attn_logit_softcapping", 3.0},
              {"final_logit_softcapping", 4.0}, {"hidden_activation", "gelu_pytorch_tanh"}, {"tie_word_embeddings", true}});
  }
  return c;
}

// Random tensors for every weight `config` implies (norms around 1, Gemma's around 0).
Tensors random_tensors(const json& config, uint64_t seed) {
  const io::ModelConfig c = io::ModelConfig::parse(config, "synthetic");
  const model::FamilyTable& f = model::family_table(c.model_type);
  at::manual_seed(seed);
  const int64_t H = c.hidden_size, D = c.head_dim, F = c.intermediate_size, V = c.vocab_size;
  const int64_t q = c.num_heads * D, kv = c.num_kv_heads * D;
  const double norm_base = f.rotary.gemma_norms ? 0.0 : 1.0;
  Tensors t;
  auto norm = [&](const std::string& name, int64_t n) { t[name] = norm_base + 0.3 * at::randn({n}); };
  auto linear = [&](const std::string& name, int64_t out, int64_t in) { t[name] = at::randn({out, in}) / std::sqrt(double(in)); };
  t["model.embed_tokens.weight"] = 0.5 * at::randn({V, H});
  norm("model.norm.weight", H);
  if (!c.tie_word_embeddings) linear("lm_head.weight", V, H);
  const std::map<std::string, std::pair<int64_t, int64_t>> shapes = {
      {"self_attn.q_proj", {q, H}},          {"self_attn.k_proj", {kv, H}},     {"self_attn.v_proj", {kv, H}},
      {"self_attn.qkv_proj", {q + 2 * kv, H}}, {"self_attn.o_proj", {H, q}},      {"mlp.gate_proj", {F, H}},
      {"mlp.up_proj", {F, H}},               {"mlp.gate_up_proj", {2 * F, H}}, {"mlp.down_proj", {H, F}}};
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const auto& l : f.linears) {
      const auto [out, in] = shapes.at(l.name);
      linear(p + l.name + ".weight", out, in);
    }
    if (f.rotary.qkv_bias)
      for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"})
        t[p + n + ".bias"] = 0.3 * at::randn({shapes.at(n).first});
    norm(p + "input_layernorm.weight", H);
    norm(p + "post_attention_layernorm.weight", H);
    if (f.rotary.sandwich_norms) {
      norm(p + "pre_feedforward_layernorm.weight", H);
      norm(p + "post_feedforward_layernorm.weight", H);
    }
    if (f.rotary.qk_norm) {
      norm(p + "self_attn.q_norm.weight", D);
      norm(p + "self_attn.k_norm.weight", D);
    }
  }
  return t;
}

std::string synthetic(const std::string& type, const std::function<void(json&)>& edit = nullptr, uint64_t seed = 7) {
  json cfg = base_config(type);
  if (edit) edit(cfg);
  const std::string dir = test::temp_dir("family-" + type);
  write_checkpoint(dir, cfg, random_tensors(cfg, seed));
  return dir;
}

at::Tensor prompt(int64_t T, int64_t vocab, uint64_t seed = 5) {
  at::manual_seed(seed);
  return at::randint(vocab, {T}, at::kLong);
}

std::string fixture_dir() { return test::fixtures() + "/families"; }

#define OB1Q_REQUIRE_FAMILY_FIXTURES()                                                                                 \
  do {                                                                                                                 \
    if (!dir_exists(fixture_dir()))                                                                                    \
      GTEST_SKIP() << "tests/fixtures/families is missing: run scripts/reference/make_family_fixtures.py --out "       \
                      "tests/fixtures/families where transformers is installed";                                       \
  } while (0)

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (auto& ch : n)
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

}  // namespace

// ---- the family tables -----------------------------------------------------------------------------

TEST(FamilyTable, OneRowPerSupportedModelTypeAndTheFinalFc) {
  const auto& types = io::supported_model_types();
  ASSERT_EQ(model::families().size(), types.size());
  for (const std::string& t : types) {
    const model::FamilyTable& f = model::family_table(t);
    EXPECT_EQ(f.model_type, t);
    EXPECT_EQ(f.final_fc, t == "opt" ? "fc2" : "mlp.down_proj") << t;
    EXPECT_EQ(f.linears.back().name, f.final_fc) << t << ": the final FC is the block's last linear";
  }
  // Linears that read one input: q/k/v, gate/up (fused ones stand alone).
  const auto& llama = model::family_table("llama");
  EXPECT_EQ(llama.linear("self_attn.q_proj").input, llama.linear("self_attn.v_proj").input);
  EXPECT_EQ(llama.linear("mlp.gate_proj").input, llama.linear("mlp.up_proj").input);
  EXPECT_NE(llama.linear("self_attn.o_proj").input, llama.linear("mlp.gate_proj").input);
  const auto& phi3 = model::family_table("phi3");
  EXPECT_TRUE(phi3.has("self_attn.qkv_proj") && phi3.has("mlp.gate_up_proj") && !phi3.has("self_attn.q_proj"));
  try {
    model::family_table("gpt_neox");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(supported: llama, opt, qwen2, qwen3, mistral, phi3, gemma2)"), std::string::npos)
        << e.what();
  }
}

TEST(FamilyTable, BlocksExposeTheTableLinearsInOrder) {
  std::vector<std::string> dirs = {test::fixtures() + "/tiny/llama3-gqa", test::fixtures() + "/tiny/opt350m-style"};
  for (const auto& t : kNewFamilies) dirs.push_back(synthetic(t));
  for (const auto& dir : dirs) {
    auto m = model::DecoderModel::load(dir, model::LoadOptions{});
    const model::FamilyTable& f = m->family();
    std::vector<std::string> names;
    for (auto& [name, lin] : m->block_module(0).linears()) names.push_back(name);
    std::vector<std::string> want;
    for (const auto& l : f.linears) want.push_back(l.name);
    EXPECT_EQ(names, want) << f.model_type;
    // the observer sees every linear of the table (the order of operands is the compiler's), with
    // one tensor per input group
    std::vector<std::string> seen;
    std::map<int, const at::TensorImpl*> input_of;
    model::LinearObserver obs = [&](const std::string& name, const at::Tensor& x) {
      seen.push_back(name);
      auto [it, fresh] = input_of.emplace(f.linear(name).input, x.unsafeGetTensorImpl());
      EXPECT_TRUE(fresh || it->second == x.unsafeGetTensorImpl()) << f.model_type << " " << name;
    };
    m->block(0, m->embed(at::arange(6, at::kLong).unsqueeze(0)), &obs);
    std::sort(seen.begin(), seen.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(seen, want) << f.model_type;
  }
}

// ---- config.json -----------------------------------------------------------------------------------

TEST(FamilyConfig, SlidingWindowsAsEachFamilyDecides) {
  auto windows = [](const std::string& type, const std::function<void(json&)>& edit) {
    json j = base_config(type);
    j["num_hidden_layers"] = 4;
    j.erase("sliding_window");
    edit(j);
    const io::ModelConfig c = io::ModelConfig::parse(j, "config.json");
    std::vector<int64_t> w;
    for (int64_t i = 0; i < 4; ++i) w.push_back(c.window_of(i));
    return w;
  };
  using W = std::vector<int64_t>;
  // Mistral: every layer; 4096 when absent (MistralConfig's default), none when null.
  EXPECT_EQ(windows("mistral", [](json&) {}), W({4096, 4096, 4096, 4096}));
  EXPECT_EQ(windows("mistral", [](json& j) { j["sliding_window"] = nullptr; }), W({0, 0, 0, 0}));
  EXPECT_EQ(windows("mistral", [](json& j) { j["sliding_window"] = 7; }), W({7, 7, 7, 7}));
  // Phi-3: none unless set.
  EXPECT_EQ(windows("phi3", [](json&) {}), W({0, 0, 0, 0}));
  EXPECT_EQ(windows("phi3", [](json& j) { j["sliding_window"] = 2047; }), W({2047, 2047, 2047, 2047}));
  // Qwen2/Qwen3: only with use_sliding_window, on layers >= max_window_layers; layer_types wins.
  EXPECT_EQ(windows("qwen2", [](json& j) { j["sliding_window"] = 5; }), W({0, 0, 0, 0}));
  EXPECT_EQ(windows("qwen2", [](json& j) { j.update({{"sliding_window", 5}, {"use_sliding_window", true}, {"max_window_layers", 2}}); }),
            W({0, 0, 5, 5}));
  EXPECT_EQ(windows("qwen3", [](json& j) {
              j.update({{"sliding_window", 5}, {"use_sliding_window", true},
                        {"layer_types", {"sliding_attention", "full_attention", "full_attention", "sliding_attention"}}});
            }),
            W({5, 0, 0, 5}));
  // Gemma-2: the even layers (layer_types' default), 4096 when absent.
  EXPECT_EQ(windows("gemma2", [](json&) {}), W({4096, 0, 4096, 0}));
  EXPECT_EQ(windows("gemma2", [](json& j) { j["layer_types"] = {"full_attention", "sliding_attention", "full_attention", "full_attention"}; }),
            W({0, 4096, 0, 0}));
  EXPECT_THROW(windows("gemma2", [](json& j) { j["layer_types"] = {"full_attention"}; }), Error);
  EXPECT_THROW(windows("gemma2", [](json& j) { j["layer_types"] = {"full_attention", "x", "full_attention", "full_attention"}; }), Error);
}

TEST(FamilyConfig, FamilyKeysAndDefaults) {
  auto parse = [](const std::string& type, const std::function<void(json&)>& edit) {
    json j = base_config(type);
    edit(j);
    return io::ModelConfig::parse(j, "config.json");
  };
  // Gemma-2 defaults: tied head, softcaps 50 / 30 (null = none), query_pre_attn_scalar 256, gelu tanh.
  io::ModelConfig g = parse("gemma2", [](json& j) {
    for (const char* k : {"tie_word_embeddings", "attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar",
                          "hidden_activation"})
      j.erase(k);
  });
  EXPECT_TRUE(g.tie_word_embeddings);
  EXPECT_EQ(g.attn_logit_softcapping, 50.0);
  EXPECT_EQ(g.final_logit_softcapping, 30.0);
  EXPECT_EQ(g.query_pre_attn_scalar, 256.0);
  EXPECT_EQ(g.activation, "gelu_pytorch_tanh");
  g = parse("gemma2", [](json& j) { j["final_logit_softcapping"] = nullptr; });
  EXPECT_EQ(g.final_logit_softcapping, 0.0);
  EXPECT_THROW(parse("gemma2", [](json& j) { j["attn_logit_softcapping"] = 0; }), Error);
  // Phi-3: partial rotary from rope_parameters or (transformers 4) the top level; longrope refused.
  EXPECT_EQ(parse("phi3", [](json&) {}).rotary_dim(), 4);
  EXPECT_EQ(parse("phi3", [](json& j) {
              j.erase("rope_parameters");
              j["partial_rotary_factor"] = 0.75;
            }).rotary_dim(),
            6);
  EXPECT_EQ(parse("phi3", [](json& j) { j.erase("rms_norm_eps"); }).norm_eps, 1e-5);  // Phi3Config's default
  try {
    parse("phi3", [](json& j) { j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1.0}}, {"long_factor", {1.0}}}; });
    FAIL() << "longrope accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported rope type \"longrope\""), std::string::npos) << e.what();
  }
  // partial rotary is Phi-3's alone
  EXPECT_THROW(parse("qwen2", [](json& j) { j["partial_rotary_factor"] = 0.5; }), Error);
  // attention_bias is read by llama, qwen3, gemma2 only (Mistral and Phi-3 have none, Qwen2's is structural)
  EXPECT_TRUE(parse("qwen3", [](json& j) { j["attention_bias"] = true; }).attention_bias);
  EXPECT_FALSE(parse("mistral", [](json& j) { j["attention_bias"] = true; }).attention_bias);
  EXPECT_EQ(parse("mistral", [](json&) {}).activation, "silu");
  EXPECT_THROW(parse("mistral", [](json& j) { j["hidden_act"] = "relu"; }), Error);
  try {
    parse("gpt_neox", [](json&) {});
    FAIL() << "gpt_neox accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "config.json: unsupported model_type \"gpt_neox\" (supported: llama, opt, qwen2, qwen3, mistral, phi3, gemma2)");
  }
}

// ---- identities with LLaMA (independent of transformers) -------------------------------------------

// A family checkpoint rewritten as the LLaMA checkpoint it must equal.
std::string as_llama(const std::string& dir, const std::function<void(Tensors&)>& edit_tensors = nullptr) {
  return edited_copy(dir, [&](json& cfg, Tensors& t) {
    cfg["model_type"] = "llama";
    if (edit_tensors) edit_tensors(t);
  });
}

TEST(FamilyIdentity, Qwen2WithoutBiasesIsLlama) {
  const std::string dir = synthetic("qwen2");
  const std::string zeroed = edited_copy(dir, [](json&, Tensors& t) {
    for (auto& [name, v] : t)
      if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) v.zero_();
  });
  const std::string llama = as_llama(zeroed, [](Tensors& t) {
    for (auto it = t.begin(); it != t.end();) it = it->first.find(".bias") != std::string::npos ? t.erase(it) : std::next(it);
  });
  const at::Tensor ids = prompt(20, 96);
  EXPECT_LE(max_diff(logits_of(zeroed, ids), logits_of(llama, ids)), 1e-5);
  EXPECT_GT(max_diff(logits_of(dir, ids), logits_of(llama, ids)), 1e-2);  // and the biases matter
}

TEST(FamilyIdentity, MistralWithinItsWindowIsLlama) {
  const std::string dir = synthetic("mistral");  // window 6
  const std::string llama = as_llama(dir);
  const at::Tensor ids = prompt(20, 96);
  const at::Tensor m = logits_of(dir, ids), l = logits_of(llama, ids);
  // positions 0..5 see at most 6 keys: no difference there; later ones differ
  EXPECT_LE(max_diff(m.narrow(0, 0, 6), l.narrow(0, 0, 6)), 1e-5);
  EXPECT_GT(max_diff(m.narrow(0, 6, 14), l.narrow(0, 6, 14)), 1e-2);
  const std::string no_window = edited_copy(dir, [](json& c, Tensors&) { c["sliding_window"] = nullptr; });
  EXPECT_LE(max_diff(logits_of(no_window, ids), l), 1e-5);
}

// Phi-3's fused matrices are LLaMA's stacked: q, k, v rows; gate rows, then up rows.
TEST(FamilyIdentity, Phi3FusedIsLlamaSplit) {
  const std::string dir = synthetic("phi3", [](json& c) {
    c.erase("sliding_window");
    c["rope_parameters"]["partial_rotary_factor"] = 1.0;
  });
  const io::ModelConfig c = io::ModelConfig::load(dir);
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim, F = c.intermediate_size;
  const std::string llama = as_llama(dir, [&](Tensors& t) {
    for (int64_t i = 0; i < c.num_layers; ++i) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      const at::Tensor qkv = t.at(p + "self_attn.qkv_proj.weight"), gu = t.at(p + "mlp.gate_up_proj.weight");
      t[p + "self_attn.q_proj.weight"] = qkv.narrow(0, 0, q);
      t[p + "self_attn.k_proj.weight"] = qkv.narrow(0, q, kv);
      t[p + "self_attn.v_proj.weight"] = qkv.narrow(0, q + kv, kv);
      t[p + "mlp.gate_proj.weight"] = gu.narrow(0, 0, F);
      t[p + "mlp.up_proj.weight"] = gu.narrow(0, F, F);
      t.erase(p + "self_attn.qkv_proj.weight");
      t.erase(p + "mlp.gate_up_proj.weight");
    }
  });
  const at::Tensor ids = prompt(20, 96);
  EXPECT_LE(max_diff(logits_of(dir, ids), logits_of(llama, ids)), 1e-5);
}

// transformers' window: query i sees keys i-W+1..i. With one layer and relative (rotary) positions,
// the logits at position i >= W-1 are those of the last position of the same model run on exactly
// those W tokens: an independent check of the convention (off by one either way fails).
TEST(FamilyIdentity, SlidingWindowSeesExactlyTheLastWindowKeys) {
  for (const char* type : {"mistral", "gemma2", "phi3"}) {
    const std::string dir = synthetic(type, [](json& c) {
      c["num_hidden_layers"] = 1;
      if (c["model_type"] == "gemma2") c["layer_types"] = {"sliding_attention"};
    });
    auto m = model::DecoderModel::load(dir, model::LoadOptions{});
    const int64_t W = m->config().window_of(0);
    ASSERT_GT(W, 0) << type;
    const at::Tensor ids = prompt(W + 9, 96);
    const at::Tensor full = m->forward(ids.unsqueeze(0))[0];
    for (int64_t i = W - 1; i < ids.size(0); ++i) {
      const at::Tensor tail = m->forward(ids.narrow(0, i - W + 1, W).unsqueeze(0))[0][W - 1];
      EXPECT_LE(max_diff(full[i], tail), 2e-4) << type << " position " << i;
    }
    // and the window matters: without it, position W (W + 1 keys) comes out differently
    const std::string unwindowed = edited_copy(dir, [](json& c, Tensors&) {
      c["sliding_window"] = nullptr;
      c.erase("layer_types");
    });
    EXPECT_GT(max_diff(full[W], logits_of(unwindowed, ids)[W]), 1e-3) << type;
  }
}

// ---- KV-cache decoding equals recomputation ---------------------------------------------------------

class FamilyCache : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyCache, IncrementalAndWholeCacheStepsEqualTheFullForward) {
  const std::string dir = synthetic(GetParam());
  auto m = model::DecoderModel::load(dir, model::LoadOptions{});
  const int64_t T = 24, P = 5;  // beyond every window of the synthetic configs
  const at::Tensor ids = prompt(T, 96).unsqueeze(0);
  const at::Tensor want = m->forward(ids)[0];
  const auto i64 = at::TensorOptions().dtype(at::kLong);
  // eager: prefill P tokens, then one token per step
  model::KVCache cache = m->new_cache(1, T);
  model::Step pre;
  pre.start = 0;
  pre.pos = at::arange(P, i64);
  EXPECT_LE(max_diff(m->forward_step(ids.narrow(1, 0, P), cache, pre, false)[0], want.narrow(0, 0, P)), 1e-4);
  for (int64_t pos = P; pos < T; ++pos) {
    model::Step s;
    s.start = pos;
    s.pos = at::full({1}, pos, i64);
    EXPECT_LE(max_diff(m->forward_step(ids.narrow(1, pos, 1), cache, s, true)[0][0], want[pos]), 1e-4)
        << GetParam() << " position " << pos;
  }
  // whole-cache steps (what a captured CUDA graph replays): the cache of fixed size and a mask
  model::KVCache whole = m->new_cache(1, T);
  m->forward_step(ids.narrow(1, 0, P), whole, pre, false);
  const at::Tensor key_pos = at::arange(T, i64);
  for (int64_t pos = P; pos < T; ++pos) {
    model::Step s;
    s.pos = at::full({1}, pos, i64);
    s.visible = (key_pos <= s.pos).view({1, T});
    EXPECT_LE(max_diff(m->forward_step(ids.narrow(1, pos, 1), whole, s, true)[0][0], want[pos]), 1e-4)
        << GetParam() << " whole-cache position " << pos;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyCache, ::testing::ValuesIn(kNewFamilies), param_name);

// ---- quantize -> packed -> eval, inspect, export ----------------------------------------------------

namespace {

// Sequences sampled from the model itself (temperature 1): text it predicts well, so that any
// damage shows in the perplexity.
std::vector<std::vector<int32_t>> sample(const model::DecoderModel& m, int n, int64_t len, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<std::vector<int32_t>> out;
  for (int s = 0; s < n; ++s) {
    std::vector<int64_t> seq = {int64_t(s * 13 + 1) % m.config().vocab_size};
    while (int64_t(seq.size()) < len) {
      const at::Tensor logits = m.forward(at::tensor(seq, at::kLong).unsqueeze(0))[0][-1];
      seq.push_back(at::multinomial(at::softmax(logits, -1), 1).item<int64_t>());
    }
    out.emplace_back(seq.begin(), seq.end());
  }
  return out;
}

std::string write_windows(const std::string& dir, const std::vector<std::vector<int32_t>>& windows) {
  const std::string path = dir + "/calib.json";
  write_file_atomic(path, json{{"seqlen", windows[0].size()}, {"windows", windows}}.dump());
  return path;
}

double ppl(const model::DecoderModel& m, const std::vector<std::vector<int32_t>>& seqs) {
  std::vector<int32_t> stream;
  for (const auto& s : seqs) stream.insert(stream.end(), s.begin(), s.end());
  eval::PplOptions po;
  po.seqlen = int64_t(seqs[0].size());
  return eval::perplexity(m, stream, po).ppl;
}

}  // namespace

class FamilyQuantize : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyQuantize, ArbRcAndOaPackedEvaluateAboveFullPrecision) {
  pack::register_format();
  const std::string type = GetParam();
  const std::string fixture = fixture_dir() + "/" + type;
  const std::string src = dir_exists(fixture) ? fixture : synthetic(type);
  const std::string work = test::temp_dir("family-q");
  auto fp = model::DecoderModel::load(src, model::LoadOptions{});
  const int64_t L = 24;
  const std::string calib = write_windows(work, sample(*fp, 4, L, 1));
  const auto test_seqs = sample(*fp, 4, L, 2);
  const double ppl_fp = ppl(*fp, test_seqs);
  for (const char* method : {"arb-rc", "oa"}) {
    quant::QuantizeOptions o;
    o.model_dir = src;
    o.method = method;
    o.calib_file = calib;
    o.nsamples = 4;
    o.seqlen = L;
    o.out = work + "/" + method;
    o.progress = false;
    o.overrides = {{"blocksize", "8"}, {"up_lim", "4"}};
    const json report = quant::run_quantize(o);
    ASSERT_EQ(report["layers"].size(), fp->family().linears.size() * size_t(fp->num_blocks())) << type << " " << method;
    for (const json& l : report["layers"]) {
      const std::string name = l["layer"];
      const bool final_fc = name.size() > 14 && name.compare(name.size() - 13, 13, "mlp.down_proj") == 0;
      EXPECT_EQ(l.value("oa", false), std::string(method) == "oa" && final_fc) << type << " " << name;
    }
    auto q = model::DecoderModel::load(o.out, model::LoadOptions{});  // packed linears stay packed
    const double ppl_q = ppl(*q, test_seqs);
    EXPECT_TRUE(std::isfinite(ppl_q)) << type << " " << method;
    EXPECT_GT(ppl_q, ppl_fp) << type << " " << method;
    std::printf("[ %-7s ] %-6s ppl fp %.3f packed %.3f\n", type.c_str(), method, ppl_fp, ppl_q);
    // inspect finds it intact; export --dequantize gives a plain checkpoint with the same logits
    EXPECT_TRUE(pack::inspect(o.out, true)["ok"].get<bool>()) << type << " " << method;
    const std::string exported = o.out + "-exported";
    pack::export_dequantized(o.out, exported, at::kFloat, false);
    const at::Tensor ids = at::tensor(test_seqs[0], at::kInt).to(at::kLong);
    EXPECT_LE(max_diff(logits_of(exported, ids), q->forward(ids.unsqueeze(0))[0]), 1e-3) << type << " " << method;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyQuantize, ::testing::ValuesIn(kNewFamilies), param_name);

// ---- parity with transformers (fixtures) -----------------------------------------------------------

class FamilyParity : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyParity, LogitsMatchTransformersFp32) {
  OB1Q_REQUIRE_FAMILY_FIXTURES();
  const std::string dir = fixture_dir() + "/" + GetParam();
  auto expected = io::CheckpointWeights::open(dir + "/expected.safetensors");
  const at::Tensor ids = expected->load("input_ids", at::kLong, c10::kCPU);
  const at::Tensor want = expected->load("logits", at::kFloat, c10::kCPU);
  const at::Tensor got = logits_of(dir, ids);
  ASSERT_EQ(got.sizes(), want.sizes());
  const double d = max_diff(got, want);
  EXPECT_LE(d, kTolerance) << GetParam();
  EXPECT_GT(want.std().item<double>(), 0.05);  // not a vacuous comparison
  std::printf("[ %-9s ] max |delta logit| %.2e over %lld positions\n", GetParam().c_str(), d, (long long)ids.size(0));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FamilyParity,
                         ::testing::Values("qwen2", "qwen2-swa", "qwen3", "mistral", "phi3", "gemma2"), param_name);

namespace {

// Each family detail, left out of a copy of its fixture: the logits must move by more than the
// parity tolerance.
struct Detail {
  const char* fixture;
  const char* what;
  std::function<void(json&, Tensors&)> leave_out;
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void for_each(Tensors& t, const std::string& suffix, const std::function<void(at::Tensor&)>& f) {
  for (auto& [name, v] : t)
    if (ends_with(name, suffix)) f(v);
}

const std::vector<Detail>& details() {
  static const std::vector<Detail> d = {
      {"qwen2", "q/k/v biases", [](json&, Tensors& t) { for_each(t, ".bias", [](at::Tensor& v) { v.zero_(); }); }},
      {"qwen2", "use_sliding_window=false (its window of 4 applied)",
       [](json& c, Tensors&) { c["use_sliding_window"] = true; }},
      {"qwen2", "rope theta 1e6 (1e4 used)", [](json& c, Tensors&) { c["rope_theta"] = 10000.0; }},
      {"qwen2-swa", "the sliding window of layer 1", [](json& c, Tensors&) {
         c["use_sliding_window"] = false;
         c.erase("layer_types");
       }},
      {"qwen3", "q/k RMSNorm (read as LLaMA)", [](json& c, Tensors& t) {
         c["model_type"] = "llama";
         for (auto it = t.begin(); it != t.end();) it = it->first.find("_norm.weight") != std::string::npos &&
                                                                it->first.find("self_attn.") != std::string::npos
                                                            ? t.erase(it)
                                                            : std::next(it);
       }},
      {"mistral", "the sliding window", [](json& c, Tensors&) { c["sliding_window"] = nullptr; }},
      {"phi3", "partial rotary (whole head rotated)", [](json& c, Tensors&) {
         c["rope_parameters"]["partial_rotary_factor"] = 1.0;
       }},
      {"phi3", "gate rows before up rows (halves swapped)", [](json&, Tensors& t) {
         for_each(t, "gate_up_proj.weight", [](at::Tensor& v) { v = v.roll(v.size(0) / 2, 0); });
       }},
      {"phi3", "the sliding window", [](json& c, Tensors&) { c["sliding_window"] = nullptr; }},
      {"gemma2", "(1 + w) norms (w used)", [](json&, Tensors& t) {
         for_each(t, "norm.weight", [](at::Tensor& v) { v = v - 1; });
       }},
      {"gemma2", "the sqrt(hidden) embedding scale", [](json& c, Tensors& t) {
         c["tie_word_embeddings"] = false;
         t["lm_head.weight"] = t.at("model.embed_tokens.weight").clone();
         t["model.embed_tokens.weight"] = t.at("model.embed_tokens.weight") / std::sqrt(64.0);
       }},
      {"gemma2", "attention softcapping", [](json& c, Tensors&) { c["attn_logit_softcapping"] = nullptr; }},
      {"gemma2", "final softcapping", [](json& c, Tensors&) { c["final_logit_softcapping"] = nullptr; }},
      {"gemma2", "query_pre_attn_scalar (head_dim used)", [](json& c, Tensors&) { c["query_pre_attn_scalar"] = c["head_dim"]; }},
      {"gemma2", "the sliding window of layer 0", [](json& c, Tensors&) {
         c["layer_types"] = {"full_attention", "full_attention"};
       }},
  };
  return d;
}

}  // namespace

TEST(FamilyParity, EachDetailMovesTheLogitsBeyondTheTolerance) {
  OB1Q_REQUIRE_FAMILY_FIXTURES();
  for (const Detail& d : details()) {
    const std::string dir = fixture_dir() + "/" + d.fixture;
    auto expected = io::CheckpointWeights::open(dir + "/expected.safetensors");
    const at::Tensor ids = expected->load("input_ids", at::kLong, c10::kCPU);
    const at::Tensor want = expected->load("logits", at::kFloat, c10::kCPU);
    const double moved = max_diff(logits_of(edited_copy(dir, d.leave_out), ids), want);
    EXPECT_GT(moved, kTolerance) << d.fixture << ": leaving out " << d.what;
    std::printf("[ %-9s ] leaving out %-50s max |delta logit| %.3f\n", d.fixture, d.what, moved);
  }
}

// ---- --model ORG/NAME through the CLI ----------------------------------------------------------------

TEST(ModelLookupCli, QuantizeFindsTheModelInTheHubCacheAndAMissingOneIsNamed) {
  const std::string src = synthetic("qwen2"), work = test::temp_dir("cli-hub");
  // the layout huggingface_hub writes: blobs, a snapshot of links to them, refs/main
  const std::string repo = work + "/hub/models--test-org--tiny-qwen2", snap = repo + "/snapshots/5eed";
  for (const std::string& d : {work + "/hub", repo, repo + "/blobs", repo + "/refs", repo + "/snapshots", snap})
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0) << d;
  for (const char* f : {"config.json", "model.safetensors"}) {
    copy_file(src + "/" + f, repo + "/blobs/" + f + ".blob");
    ASSERT_EQ(::symlink((std::string("../../blobs/") + f + ".blob").c_str(), (snap + "/" + f).c_str()), 0);
  }
  write_file_atomic(repo + "/refs/main", "5eed\n");
  const std::string calib = test::write_calib_file(work, 2, 16, 96);
  ::setenv("HF_HUB_CACHE", (work + "/hub").c_str(), 1);
  const auto [rc, out] = test::run_ob1q("quantize --model test-org/tiny-qwen2 --calib-file " + calib +
                                        " --nsamples 2 --seqlen 16 --blocksize 8 --up-lim 4 --device cpu --out " + work +
                                        "/q 2>&1");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(file_exists(work + "/q/config.json")) << out;
  const auto [rc2, out2] = test::run_ob1q("eval --model test-org/not-downloaded --device cpu 2>&1");
  ::unsetenv("HF_HUB_CACHE");
  EXPECT_EQ(rc2, 1) << out2;
  EXPECT_NE(out2.find("ob1q: error: test-org/not-downloaded: model not found; looked at"), std::string::npos) << out2;
  EXPECT_NE(out2.find("`huggingface-cli download test-org/not-downloaded`"), std::string::npos) << out2;
}
