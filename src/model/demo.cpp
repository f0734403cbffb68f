#include "ob1q/model/demo.hpp"

#include <ATen/ATen.h>
#include <sys/stat.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/io/safetensors.hpp"

namespace ob1q::model {
namespace {

constexpr int kBytes = 256, kBos = 256, kVocab = 264, kLayers = 2, kHeads = 4, kFfn = 512;

// GPT-2's byte <-> printable-unicode table, as UTF-8 strings.
std::string byte_token(int b) {
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) s += char(cp);
    else s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    return s;
  };
  bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  if (printable) return utf8(b);
  int n = 0;
  for (int c = 0; c < b; ++c)
    if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) ++n;
  return utf8(256 + n);
}

nlohmann::json tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < kBytes; ++b) vocab[byte_token(b)] = b;
  nlohmann::json bos = {{"id", kBos}, {"content", "<s>"}, {"single_word", false}, {"lstrip", false},
                        {"rstrip", false}, {"normalized", false}, {"special", true}};
  return {{"version", "1.0"},
          {"added_tokens", {bos}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"post_processor",
           {{"type", "TemplateProcessing"},
            {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
            {"pair", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                      {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
            {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {kBos}}, {"tokens", {"<s>"}}}}}}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                     {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                     {"ignore_merges", false}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
}

void add(io::SafetensorsWriter& w, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.to(at::kFloat).contiguous();
  w.add(name, io::DType::F32, c.sizes().vec(), c.data_ptr(), c.numel() * sizeof(float));
}

}  // namespace

void write_demo(const std::string& out, const std::string& train_text, const std::string& test_text) {
  if (train_text.size() < 1000 || test_text.empty()) fail(out, "demo needs some training and test text");
  const std::string mdir = path_join(out, "model"), ddir = path_join(out, "data/wikitext2/raw");
  for (const std::string& d : {out, mdir, path_join(out, "data"), path_join(out, "data/wikitext2"), ddir})
    ::mkdir(d.c_str(), 0755);
  if (!dir_exists(ddir)) fail(out, "cannot create the demo directories");

  // Byte bigram counts, add-0.1 smoothing; every stream starts with BOS.
  std::vector<double> counts(kVocab * kVocab, 0.0);
  int prev = kBos;
  for (unsigned char c : train_text) counts[prev * kVocab + c] += 1, prev = c;
  at::Tensor head = at::full({kVocab, kVocab}, std::log(1e-9), at::kFloat);  // [next, prev]
  for (int p = 0; p <= kBos; ++p) {
    double total = 0;
    for (int n = 0; n < kBytes; ++n) total += counts[p * kVocab + n] + 0.1;
    for (int n = 0; n < kBytes; ++n) head[n][p] = float(std::log((counts[p * kVocab + n] + 0.1) / total));
  }
  // Hidden size = vocab: one-hot embeddings; the final RMSNorm (weight 1/sqrt(H)) maps a one-hot
  // state back to itself, so logits = log P(next | prev) up to the small block perturbations.
  const int H = kVocab;
  at::manual_seed(0);
  io::SafetensorsWriter w;
  add(w, "model.embed_tokens.weight", at::eye(H));
  for (int l = 0; l < kLayers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"})
      add(w, p + n + ".weight", at::randn({H, H}) * 0.02);
    add(w, p + "mlp.gate_proj.weight", at::randn({kFfn, H}) * 0.02);
    add(w, p + "mlp.up_proj.weight", at::randn({kFfn, H}) * 0.02);
    add(w, p + "mlp.down_proj.weight", at::randn({H, kFfn}) * 0.02);
    add(w, p + "input_layernorm.weight", at::ones({H}));
    add(w, p + "post_attention_layernorm.weight", at::ones({H}));
  }
  add(w, "model.norm.weight", at::full({H}, 1.0 / std::sqrt(double(H))));
  add(w, "lm_head.weight", head);
  w.set_metadata("format", "pt");
  w.write(path_join(mdir, "model.safetensors"));

  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", kVocab},
                        {"hidden_size", H}, {"intermediate_size", kFfn}, {"num_hidden_layers", kLayers},
                        {"num_attention_heads", kHeads}, {"num_key_value_heads", kHeads}, {"head_dim", H / kHeads},
                        {"max_position_embeddings", 2048}, {"rms_norm_eps", 1e-5}, {"tie_word_embeddings", false},
                        {"bos_token_id", kBos}, {"eos_token_id", kBos}, {"hidden_act", "silu"}, {"dtype", "float32"},
                        {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
                        {"ob1q_demo", "byte-bigram head counted from the ob1q documentation"}};
  write_file_atomic(path_join(mdir, "config.json"), cfg.dump(2) + "\n");
  write_file_atomic(path_join(mdir, "tokenizer.json"), tokenizer_json().dump() + "\n");
  write_file_atomic(path_join(mdir, "tokenizer_config.json"),
                    nlohmann::json({{"bos_token", "<s>"}, {"eos_token", "<s>"}, {"model_max_length", 2048}}).dump(2) + "\n");
  write_file_atomic(path_join(ddir, "wiki.test.raw"), test_text);
}

}  // namespace ob1q::model
