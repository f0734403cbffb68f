// load_tokenizer: picks the tokenizer file of a directory the way transformers 5 does and applies
// tokenizer_config.json (tokenizer class, BOS/EOS flags, special tokens, legacy).
//
// transformers 5 defines a tokenizer by its class, the files only supply vocabulary and merges:
// - LlamaTokenizer (also for tokenizer.model alone): BPE with byte fallback behind a Metaspace
//   pre-tokenizer (no split; "▁" prepended to the first section when legacy=false, to every
//   section between special tokens when legacy=true). When tokenizer.json is present its
//   vocabulary and merges are used, not tokenizer.model's: the reference ids of
//   data/tokenizers/llama2 (whose two files disagree) show it.
// - GemmaTokenizer: spaces turned into "▁" by a Replace normalizer, then Split(" ",
//   MergedWithPrevious): no "▁" prepended (no dummy prefix).
// - any other class: the pipeline tokenizer.json describes.
// What goes around a sequence (BOS, EOS): with tokenizer.json, its post-processor alone, whatever
// the class -- transformers 5 drops add_bos_token / add_eos_token from tokenizer_config.json when
// it loads a tokenizer.json (PreTrainedTokenizerBase._from_pretrained) and hands the file's
// post-processor to the class (TokenizersBackend.convert_to_native_format). Phi-3's config says
// add_bos_token false and its TemplateProcessing adds BOS: transformers adds BOS. Without
// tokenizer.json (tokenizer.model, GPT-2 files) the config's add_bos_token / add_eos_token
// decide, BOS by default for the SentencePiece classes.
#include "ob1q/text/tokenizer.hpp"

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/hf_tokenizer.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tokenizer_sources.hpp"

namespace ob1q::text {

namespace {

using nlohmann::json;

const char* const kMeta = "\xE2\x96\x81";  // "▁"

json read_config(const std::string& dir) {
  const std::string path = path_join(dir, "tokenizer_config.json");
  if (!file_exists(path)) return json::object();
  json j = parse_json(read_file(path), path);
  if (!j.is_object()) fail(path, "not a JSON object");
  return j;
}

// A config bool that may be absent (or null).
const json* config_flag(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  return it != cfg.end() && it->is_boolean() ? &*it : nullptr;
}

bool config_bool(const json& cfg, const char* key, bool fallback) {
  const json* v = config_flag(cfg, key);
  return v ? v->get<bool>() : fallback;
}

// bos_token and friends are strings or serialized AddedTokens ({"content": ...}).
std::string config_token(const json& cfg, const char* key, const std::string& fallback, const std::string& dir) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return fallback;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_null()) return "";  // explicitly none
  const auto content = it->is_object() ? it->find("content") : it->end();
  if (content == it->end() || !content->is_string())
    fail(path_join(dir, "tokenizer_config.json"), std::string(key) + " is not a string or {\"content\": string}");
  return content->get<std::string>();
}

enum class SpClass { None, Llama, Gemma };  // the SentencePiece-vocabulary classes transformers defines

// The tokenizer class from tokenizer_config.json; without one, transformers maps the model type of
// config.json to its class (llama, mistral, phi3 -> LlamaTokenizer; gemma, gemma2 -> GemmaTokenizer).
SpClass sentencepiece_class(const json& cfg, const std::string& dir) {
  auto it = cfg.find("tokenizer_class");
  if (it != cfg.end() && it->is_string()) {
    const std::string cls = it->get<std::string>();
    if (cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast") return SpClass::Llama;
    if (cls == "GemmaTokenizer" || cls == "GemmaTokenizerFast") return SpClass::Gemma;
    return SpClass::None;
  }
  const std::string model_config = path_join(dir, "config.json");
  if (!file_exists(model_config)) return SpClass::None;
  const json j = json::parse(read_file(model_config), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return SpClass::None;  // io reports a broken config.json
  const auto it_type = j.find("model_type");
  const std::string type = it_type != j.end() && it_type->is_string() ? it_type->get<std::string>() : "";
  if (type == "llama" || type == "mistral" || type == "phi3") return SpClass::Llama;
  if (type == "gemma" || type == "gemma2") return SpClass::Gemma;
  return SpClass::None;
}

void set_added(std::vector<AddedToken>& added, const AddedToken& t) {
  for (AddedToken& a : added) {
    if (a.id == t.id) {
      a = t;
      return;
    }
  }
  added.push_back(t);
}

// A decimal token id in [0, 2^31), or -1.
int32_t parse_id(const std::string& s) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int64_t v = std::stoll(s);
  return v <= kMaxTokenIdValue ? static_cast<int32_t>(v) : -1;
}

// tokenizer_config.json's added_tokens_decoder joins the file's added tokens (a vocabulary of
// vocab_size ids).
void add_config_tokens(const json& cfg, const std::string& dir, int64_t vocab_size, std::vector<AddedToken>& added) {
  auto it = cfg.find("added_tokens_decoder");
  if (it == cfg.end() || !it->is_object()) return;
  const std::string path = path_join(dir, "tokenizer_config.json");
  std::vector<AddedToken> from_config;
  try {
    for (const auto& [key, v] : it->items()) {
      AddedToken t;
      t.id = parse_id(key);
      if (t.id < 0) fail(path, "added_tokens_decoder key " + quote_text(key) + " is not a token id");
      t.content = v.at("content").get<std::string>();
      t.special = v.value("special", false);
      t.lstrip = v.value("lstrip", false);
      t.rstrip = v.value("rstrip", false);
      t.single_word = v.value("single_word", false);
      set_added(added, t);
      from_config.push_back(t);
    }
  } catch (const json::exception& e) {
    fail(path, std::string("bad added_tokens_decoder: ") + e.what());
  }
  const int64_t defined = vocab_size + static_cast<int64_t>(added.size());
  for (const AddedToken& t : from_config) {
    if (t.id >= token_id_bound(defined))
      fail_far_id(t.id, defined, path, "added token " + quote_text(t.content) + " has id");
  }
}

int32_t find_token(const std::string& content, const std::vector<AddedToken>& added, const BpeModel& model) {
  if (content.empty()) return -1;
  for (const AddedToken& a : added) {
    if (a.content == content) return a.id;
  }
  return model.token_id(content);
}

// The pipeline of transformers' LlamaTokenizer.
HfPipeline llama_pipeline(const json& cfg) {
  const bool add_prefix_space = config_bool(cfg, "add_prefix_space", true);
  const bool legacy = config_bool(cfg, "legacy", true);
  HfPipeline p;
  PreTokenizerStep meta{PreTokenizerStep::Metaspace};
  meta.replacement = kMeta;
  meta.prepend = !add_prefix_space ? PrependScheme::Never : legacy ? PrependScheme::Always : PrependScheme::First;
  meta.split = false;
  p.pre_tokenizers.push_back(meta);
  DecoderStep replace{DecoderStep::Replace};
  replace.pattern = kMeta;
  replace.content = " ";
  p.decoders = {replace, DecoderStep{DecoderStep::ByteFallback}, DecoderStep{DecoderStep::Fuse}};
  if (add_prefix_space) {
    DecoderStep strip{DecoderStep::Strip};
    strip.content = " ";
    strip.start = 1;
    p.decoders.push_back(strip);
  }
  p.kind = "sentencepiece";
  return p;
}

// The pipeline of transformers 5's GemmaTokenizer: normalizer Replace(" ", "▁"), pre-tokenizer
// Split(" ", MergedWithPrevious) -- which finds no space left, so each section goes whole to the
// BPE model.
HfPipeline gemma_pipeline() {
  HfPipeline p;
  p.normalizers.push_back({NormalizerStep::Replace, " ", kMeta});
  PreTokenizerStep split{PreTokenizerStep::Split};
  split.literal = " ";
  split.behavior = SplitBehavior::MergedWithPrevious;
  p.pre_tokenizers.push_back(split);
  DecoderStep replace{DecoderStep::Replace};
  replace.pattern = kMeta;
  replace.content = " ";
  p.decoders = {replace, DecoderStep{DecoderStep::ByteFallback}, DecoderStep{DecoderStep::Fuse}};
  p.kind = "sentencepiece";
  return p;
}

// A SentencePiece-vocabulary class (LLaMA, Gemma): its pipeline, byte fallback, BOS/EOS defaults.
void set_sentencepiece_class(SpClass cls, const json& cfg, BpeSource& source, HfPipeline& pipeline,
                             std::string& bos, std::string& eos) {
  pipeline = cls == SpClass::Gemma ? gemma_pipeline() : llama_pipeline(cfg);
  source.options.byte_fallback = true;  // BPE(..., fuse_unk=True, byte_fallback=True) in both classes
  source.options.fuse_unk = true;
  bos = cls == SpClass::Gemma ? "<bos>" : "<s>";
  eos = cls == SpClass::Gemma ? "<eos>" : "</s>";
}

struct Assembly {
  BpeSource source;
  HfPipeline pipeline;
  bool llama = false;  // a SentencePiece-vocabulary class (LLaMA, Gemma): config specials cut out
  // No tokenizer.json: add_bos_token / add_eos_token of the config decide what goes around a
  // sequence, BOS by default for `llama` (with one, its post-processor does).
  bool specials_from_config = false;
  std::string default_bos, default_eos;  // when the config names none
};

std::unique_ptr<Tokenizer> assemble(Assembly a, const json& cfg, const std::string& dir, const std::string& where) {
  add_config_tokens(cfg, dir, static_cast<int64_t>(a.source.tokens.size()), a.source.added_tokens);
  BpeModel model(std::move(a.source.tokens), a.source.merges, a.source.options, where);
  std::vector<AddedToken>& added = a.source.added_tokens;
  const std::string bos = config_token(cfg, "bos_token", a.default_bos, dir);
  const std::string eos = config_token(cfg, "eos_token", a.default_eos, dir);
  HfPipeline& p = a.pipeline;
  if (a.llama) {
    // The special tokens of the config are always cut out of the text.
    for (const std::string& s : {config_token(cfg, "unk_token", "<unk>", dir), bos, eos}) {
      const int32_t id = s.empty() ? -1 : model.token_id(s);
      bool known = false;
      for (const AddedToken& t : added) known = known || t.id == id;
      if (id >= 0 && !known) added.push_back(AddedToken{s, id});
    }
  }
  p.added_tokens = added;
  p.bos_id = find_token(bos, added, model);
  p.eos_id = find_token(eos, added, model);
  const json* add_bos = config_flag(cfg, "add_bos_token");
  const json* add_eos = config_flag(cfg, "add_eos_token");
  if (a.specials_from_config && (a.llama || add_bos || add_eos)) {
    p.prefix.clear();
    p.suffix.clear();
    if (config_bool(cfg, "add_bos_token", a.llama) && p.bos_id >= 0) p.prefix.push_back(p.bos_id);
    if (config_bool(cfg, "add_eos_token", false) && p.eos_id >= 0) p.suffix.push_back(p.eos_id);
  }
  return std::make_unique<HfTokenizer>(std::move(model), std::move(p), where);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  const json cfg = read_config(dir);
  const SpClass sp_class = sentencepiece_class(cfg, dir);
  const bool llama = sp_class != SpClass::None;

  std::string json_path = path_join(dir, "tokenizer.json");
  if (!file_exists(json_path)) json_path += ".gz";
  const std::string model_path = path_join(dir, "tokenizer.model");
  const bool have_model = file_exists(model_path);

  if (file_exists(json_path)) {
    TokenizerJson tj = read_tokenizer_json(json_path);
    Assembly a;
    a.source = std::move(tj.bpe);
    if (llama && !a.source.options.byte_level) {
      a.llama = true;
      set_sentencepiece_class(sp_class, cfg, a.source, a.pipeline, a.default_bos, a.default_eos);
      a.pipeline.prefix = std::move(tj.pipeline.prefix);  // the class keeps the file's post-processor
      a.pipeline.suffix = std::move(tj.pipeline.suffix);
    } else {
      a.pipeline = std::move(tj.pipeline);
    }
    return assemble(std::move(a), cfg, dir, json_path);
  }
  if (have_model) {
    Assembly a;
    if (!read_sentencepiece_bpe(model_path, a.source))
      fail(model_path, "only BPE SentencePiece models (LLaMA-1/2 style) are supported, this one is not BPE");
    a.llama = true;
    a.specials_from_config = true;
    set_sentencepiece_class(sp_class == SpClass::Gemma ? sp_class : SpClass::Llama, cfg, a.source, a.pipeline,
                            a.default_bos, a.default_eos);
    return assemble(std::move(a), cfg, dir, model_path);
  }
  const std::string encoder = path_join(dir, "encoder.json"), merges = path_join(dir, "vocab.bpe");
  if (file_exists(encoder) && file_exists(merges)) {
    Assembly a;
    a.source = read_gpt2_files(encoder, merges);
    PreTokenizerStep byte_level{PreTokenizerStep::ByteLevel};
    a.pipeline.pre_tokenizers = {byte_level};
    a.pipeline.decoders = {DecoderStep{DecoderStep::ByteLevel}};
    // GPT-2's one special token, cut out of the text as every HF GPT-2 tokenizer does.
    const std::string eot = "<|endoftext|>";
    for (size_t id = 0; id < a.source.tokens.size(); ++id) {
      if (a.source.tokens[id] == eot) a.source.added_tokens.push_back(AddedToken{eot, static_cast<int32_t>(id)});
    }
    a.default_bos = a.default_eos = eot;
    a.specials_from_config = true;
    return assemble(std::move(a), cfg, dir, encoder);
  }
  fail(dir, "no tokenizer found (expected tokenizer.model, tokenizer.json or encoder.json + vocab.bpe)");
}

}  // namespace ob1q::text
