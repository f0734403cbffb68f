// Reads safetensors files written by Python's safetensors (HF transformers save_pretrained) and
// checks them against config.json and an independent byte-level parse.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "io_test_util.hpp"
#include "ob1q/io/safetensors.hpp"
#include "test_support.hpp"

using namespace ob1q::io;
using ob1q::test::fixtures;
using ob1q::test::read_raw;
using Shapes = std::map<std::string, std::vector<int64_t>>;

namespace {

nlohmann::json config_of(const std::string& dir) {
  return nlohmann::json::parse(ob1q::test::slurp(dir + "/config.json"));
}

// The tensor names and shapes transformers' LlamaForCausalLM saves for `cfg`.
Shapes llama_shapes(const nlohmann::json& cfg) {
  int64_t h = cfg["hidden_size"], v = cfg["vocab_size"], inter = cfg["intermediate_size"];
  int64_t heads = cfg["num_attention_heads"], kv = cfg["num_key_value_heads"];
  int64_t hd = cfg.contains("head_dim") ? cfg["head_dim"].get<int64_t>() : h / heads;
  Shapes s;
  s["model.embed_tokens.weight"] = {v, h};
  s["model.norm.weight"] = {h};
  if (!cfg.value("tie_word_embeddings", false)) s["lm_head.weight"] = {v, h};
  for (int i = 0; i < cfg["num_hidden_layers"].get<int>(); ++i) {
    std::string p = "model.layers." + std::to_string(i) + ".";
    s[p + "input_layernorm.weight"] = {h};
    s[p + "post_attention_layernorm.weight"] = {h};
    s[p + "self_attn.q_proj.weight"] = {heads * hd, h};
    s[p + "self_attn.k_proj.weight"] = {kv * hd, h};
    s[p + "self_attn.v_proj.weight"] = {kv * hd, h};
    s[p + "self_attn.o_proj.weight"] = {h, heads * hd};
    s[p + "mlp.gate_proj.weight"] = {inter, h};
    s[p + "mlp.up_proj.weight"] = {inter, h};
    s[p + "mlp.down_proj.weight"] = {h, inter};
  }
  return s;
}

// OPTForCausalLM with word_embed_proj_dim == hidden_size and a final layer norm.
Shapes opt_shapes(const nlohmann::json& cfg) {
  int64_t h = cfg["hidden_size"], v = cfg["vocab_size"], ffn = cfg["ffn_dim"];
  Shapes s;
  s["model.decoder.embed_tokens.weight"] = {v, h};
  s["model.decoder.embed_positions.weight"] = {cfg["max_position_embeddings"].get<int64_t>() + 2, h};
  s["model.decoder.final_layer_norm.weight"] = {h};
  s["model.decoder.final_layer_norm.bias"] = {h};
  if (!cfg.value("tie_word_embeddings", false)) s["lm_head.weight"] = {v, h};
  for (int i = 0; i < cfg["num_hidden_layers"].get<int>(); ++i) {
    std::string p = "model.decoder.layers." + std::to_string(i) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      s[p + "self_attn." + proj + ".weight"] = {h, h};
      s[p + "self_attn." + proj + ".bias"] = {h};
    }
    for (const char* ln : {"self_attn_layer_norm", "final_layer_norm"}) {
      s[p + ln + ".weight"] = {h};
      s[p + ln + ".bias"] = {h};
    }
    s[p + "fc1.weight"] = {ffn, h};
    s[p + "fc1.bias"] = {ffn};
    s[p + "fc2.weight"] = {h, ffn};
    s[p + "fc2.bias"] = {h};
  }
  return s;
}

// Every tensor's bytes as seen through data() equal the bytes found by the hand parse.
void expect_bytes_match(const SafetensorsFile& f) {
  auto raw = read_raw(f.path());
  ASSERT_EQ(raw.header.size(), f.tensors().size() + (raw.header.contains("__metadata__") ? 1 : 0));
  for (const TensorInfo& t : f.tensors()) {
    std::string expect = raw.bytes_of(t.name);
    ASSERT_EQ(t.nbytes, expect.size()) << t.name;
    EXPECT_EQ(std::memcmp(f.data(t), expect.data(), expect.size()), 0) << t.name;
    EXPECT_EQ(raw.header[t.name]["dtype"].get<std::string>(), dtype_name(t.dtype)) << t.name;
  }
}

void expect_model(const std::string& dir, DType dtype, const Shapes& want) {
  SCOPED_TRACE(dir);
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  EXPECT_EQ(f->path(), dir + "/model.safetensors");
  EXPECT_EQ(f->metadata().at("format"), "pt");
  ASSERT_EQ(f->tensors().size(), want.size());
  for (const auto& [name, shape] : want) {
    const TensorInfo* t = f->find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->name, name);
    EXPECT_EQ(t->shape, shape) << name;
    EXPECT_EQ(t->dtype, dtype) << name;
    EXPECT_EQ(t->nbytes, uint64_t(t->numel()) * dtype_size(dtype)) << name;
  }
  EXPECT_EQ(f->find("no.such.tensor"), nullptr);
  // File order: offsets strictly follow each other from 0.
  uint64_t cursor = 0;
  for (const TensorInfo& t : f->tensors()) {
    EXPECT_EQ(t.offset, cursor) << t.name;
    cursor += t.nbytes;
  }
  expect_bytes_match(*f);
}

// Reads element i of a float tensor in any of the float dtypes (unaligned-safe).
float float_at(const SafetensorsFile& f, const TensorInfo& t, size_t i) {
  const auto* p = static_cast<const uint8_t*>(f.data(t)) + i * dtype_size(t.dtype);
  if (t.dtype == DType::F32) {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  if (t.dtype == DType::BF16) {
    uint32_t u = uint32_t(bits) << 16;
    float v;
    std::memcpy(&v, &u, 4);
    return v;
  }
  // F16: only normal numbers and zero are needed here.
  int exp = (bits >> 10) & 0x1f, mant = bits & 0x3ff;
  float mag = exp == 0 ? std::ldexp(float(mant), -24) : std::ldexp(1.0f + mant / 1024.0f, exp - 15);
  return (bits & 0x8000) ? -mag : mag;
}

}  // namespace

TEST(SafetensorsFixtures, Llama3GqaF32) {
  std::string dir = fixtures() + "/tiny/llama3-gqa";
  expect_model(dir, DType::F32, llama_shapes(config_of(dir)));
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  EXPECT_EQ(f->find("model.embed_tokens.weight")->shape, (std::vector<int64_t>{160, 64}));
  EXPECT_EQ(f->find("model.layers.0.self_attn.k_proj.weight")->shape, (std::vector<int64_t>{32, 64}));
}

TEST(SafetensorsFixtures, LlamaBf16Mqa) {
  std::string dir = fixtures() + "/tiny/llama-bf16-mqa";
  expect_model(dir, DType::BF16, llama_shapes(config_of(dir)));
  auto f = SafetensorsFile::open(dir + "/model.safetensors");
  // head_dim 24, one KV head.
  EXPECT_EQ(f->find("model.layers.1.self_attn.v_proj.weight")->shape, (std::vector<int64_t>{24, 64}));
}

TEST(SafetensorsFixtures, OptUntiedF16) {
  std::string dir = fixtures() + "/tiny/opt-untied-fp16";
  expect_model(dir, DType::F16, opt_shapes(config_of(dir)));
}

// Freshly initialised norm weights are exactly 1.0 in every dtype: decodes real values.
TEST(SafetensorsFixtures, NormWeightsAreOne) {
  struct Case {
    const char* dir;
    const char* tensor;
  };
  for (Case c : {Case{"llama3-gqa", "model.norm.weight"}, Case{"llama-bf16-mqa", "model.norm.weight"},
                 Case{"opt-untied-fp16", "model.decoder.final_layer_norm.weight"}}) {
    auto f = SafetensorsFile::open(fixtures() + "/tiny/" + c.dir + "/model.safetensors");
    const TensorInfo* t = f->find(c.tensor);
    ASSERT_NE(t, nullptr) << c.dir;
    for (int64_t i = 0; i < t->numel(); ++i) ASSERT_EQ(float_at(*f, *t, i), 1.0f) << c.dir << " " << i;
  }
  // And embeddings are small random values, not all equal.
  auto f = SafetensorsFile::open(fixtures() + "/tiny/llama-bf16-mqa/model.safetensors");
  const TensorInfo* e = f->find("model.embed_tokens.weight");
  float v0 = float_at(*f, *e, 0);
  EXPECT_LT(std::fabs(v0), 0.5f);
  EXPECT_NE(v0, float_at(*f, *e, 1));
}

TEST(SafetensorsFixtures, ExpectedOutputs) {
  for (const char* name : {"llama3-gqa", "llama-bf16-mqa", "opt-untied-fp16", "llama-tied-v4-sharded", "opt350m-style"}) {
    SCOPED_TRACE(name);
    auto f = SafetensorsFile::open(fixtures() + "/tiny/" + name + "/expected.safetensors");
    ASSERT_EQ(f->tensors().size(), 2u);
    const TensorInfo* ids = f->find("input_ids");
    const TensorInfo* logits = f->find("logits");
    ASSERT_TRUE(ids && logits);
    EXPECT_EQ(ids->dtype, DType::I64);
    EXPECT_EQ(ids->shape, (std::vector<int64_t>{48}));
    EXPECT_EQ(logits->dtype, DType::F32);
    EXPECT_EQ(logits->shape, (std::vector<int64_t>{48, 160}));
    EXPECT_EQ(ids->offset, 0u);
    EXPECT_EQ(logits->offset, 48u * 8);
    std::vector<int64_t> v(48);
    std::memcpy(v.data(), f->data(*ids), ids->nbytes);
    for (int64_t x : v) EXPECT_TRUE(x >= 0 && x < 160) << x;
    double sum_abs = 0;
    for (int64_t i = 0; i < logits->numel(); ++i) {
      float x = float_at(*f, *logits, i);
      ASSERT_TRUE(std::isfinite(x)) << i;
      sum_abs += std::fabs(x);
    }
    EXPECT_GT(sum_abs, 0.0);
    expect_bytes_match(*f);
  }
}

// A checksum computed from the hand parse matches one computed through the reader.
TEST(SafetensorsFixtures, ChecksumMatchesIndependentParse) {
  std::string path = fixtures() + "/tiny/llama3-gqa/expected.safetensors";
  auto raw = read_raw(path);
  EXPECT_EQ(raw.header_len % 8, 0u);
  auto fnv = [](const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
  };
  auto f = SafetensorsFile::open(path);
  for (const char* name : {"input_ids", "logits"}) {
    std::string b = raw.bytes_of(name);
    const TensorInfo* t = f->find(name);
    EXPECT_EQ(fnv(reinterpret_cast<const uint8_t*>(b.data()), b.size()),
              fnv(static_cast<const uint8_t*>(f->data(*t)), t->nbytes))
        << name;
  }
  // First token id from the raw bytes, decoded by hand as little-endian.
  int64_t first = 0;
  for (int i = 7; i >= 0; --i) first = (first << 8) | static_cast<unsigned char>(raw.data[i]);
  int64_t via_reader;
  std::memcpy(&via_reader, f->data(*f->find("input_ids")), 8);
  EXPECT_EQ(first, via_reader);
}
