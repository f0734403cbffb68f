// Reader of HF tokenizers' tokenizer.json: the BPE model and the pipeline steps that byte-level
// and SentencePiece-style BPE tokenizers use. Anything else is refused with a message naming
// the file, rather than silently tokenizing differently from HF.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tokenizer_sources.hpp"
#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

using nlohmann::json;

// Sequences of steps nest; real files use one level. The bound keeps the recursion below short.
constexpr int kMaxSequenceDepth = 32;

void check_sequence_depth(int depth, const std::string& path, const char* kind) {
  if (depth >= kMaxSequenceDepth)
    fail(path, std::string(kind) + " Sequence nested deeper than " + std::to_string(kMaxSequenceDepth) + " levels");
}

bool flag(const json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

std::string text_of(const json& j, const char* key, const std::string& fallback = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// {"String": "x"} patterns; regexes only where a step supports them.
std::string string_pattern(const json& step, const std::string& path) {
  const json& p = step.at("pattern");
  if (p.contains("String")) return p["String"].get<std::string>();
  fail(path, "unsupported regex pattern in a " + step.value("type", std::string("?")) + " step");
}

// HF's Metaspace replacement is a Rust char: exactly one character (an empty one would never let
// the pre-tokenizer's split advance).
std::string metaspace_replacement(const json& step, const std::string& path) {
  const std::string r = text_of(step, "replacement", "\xE2\x96\x81");
  if (!is_one_character(r)) fail(path, "Metaspace replacement " + quote_text(r) + " is not one character");
  return r;
}

PrependScheme prepend_scheme(const json& step) {
  const std::string s = text_of(step, "prepend_scheme");
  if (s == "first") return PrependScheme::First;
  if (s == "never") return PrependScheme::Never;
  if (s.empty() && !flag(step, "add_prefix_space", true)) return PrependScheme::Never;  // older files
  return PrependScheme::Always;
}

void read_normalizer(const json& n, const std::string& path, std::vector<NormalizerStep>& out, int depth = 0) {
  if (n.is_null()) return;
  const std::string type = n.at("type").get<std::string>();
  if (type == "Sequence") {
    check_sequence_depth(depth, path, "normalizer");
    for (const json& s : n.at("normalizers")) read_normalizer(s, path, out, depth + 1);
  } else if (type == "Prepend") {
    out.push_back({NormalizerStep::Prepend, "", n.at("prepend").get<std::string>()});
  } else if (type == "Replace") {
    out.push_back({NormalizerStep::Replace, string_pattern(n, path), n.at("content").get<std::string>()});
  } else if (type == "NFC") {
    out.push_back({NormalizerStep::Nfc, "", ""});
  } else {
    fail(path, "unsupported normalizer " + type);
  }
}

void read_pre_tokenizer(const json& p, const std::string& path, std::vector<PreTokenizerStep>& out, int depth = 0) {
  if (p.is_null()) return;
  const std::string type = p.at("type").get<std::string>();
  PreTokenizerStep step{PreTokenizerStep::ByteLevel};
  if (type == "Sequence") {
    check_sequence_depth(depth, path, "pre-tokenizer");
    for (const json& s : p.at("pretokenizers")) read_pre_tokenizer(s, path, out, depth + 1);
    return;
  } else if (type == "ByteLevel") {
    step.add_prefix_space = flag(p, "add_prefix_space", true);
    step.use_regex = flag(p, "use_regex", true);
  } else if (type == "Split") {
    step.kind = PreTokenizerStep::Split;
    const json& pattern = p.at("pattern");
    if (pattern.contains("String")) {
      step.literal = pattern["String"].get<std::string>();
      // HF would split at every position (an empty regex matches everywhere): no real file does that.
      if (step.literal.empty()) fail(path, "Split pattern {\"String\": \"\"} is empty");
    } else {
      const std::string regex = pattern.contains("Regex") ? pattern["Regex"].get<std::string>() : "";
      if (!find_split_pattern(regex, &step.pattern))
        fail(path, "unsupported Split pattern " + pattern.dump() +
                       " (supported: any {\"String\": ...}, and the GPT-2, LLaMA-3 and Qwen2 regexes)");
    }
    const std::string behavior = text_of(p, "behavior");
    if (!find_split_behavior(behavior, &step.behavior))
      fail(path, "unsupported Split behavior " + quote_text(behavior) +
                     " (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
    step.invert = flag(p, "invert", false);
  } else if (type == "Metaspace") {
    step.kind = PreTokenizerStep::Metaspace;
    step.replacement = metaspace_replacement(p, path);
    step.prepend = prepend_scheme(p);
    step.split = flag(p, "split", true);
  } else {
    fail(path, "unsupported pre-tokenizer " + type);
  }
  out.push_back(step);
}

// Ids of one TemplateProcessing item that names a special token.
std::vector<int32_t> special_ids(const json& processor, const json& item, const std::string& path) {
  const std::string name = item.at("SpecialToken").at("id").get<std::string>();
  const json& specials = processor.at("special_tokens");
  if (!specials.contains(name)) fail(path, "post-processor template uses undefined special token " + name);
  std::vector<int32_t> ids;
  for (const json& id : specials[name].at("ids")) {
    ids.push_back(json_token_id(id, path, [&] {
      return "post_processor.special_tokens[" + quote_text(name) + "].ids[" + std::to_string(ids.size()) + "]";
    }));
  }
  return ids;
}

// What the post-processor adds around a single sequence (add_special_tokens=True).
void read_post_processor(const json& p, const std::string& path, std::vector<int32_t>& prefix,
                         std::vector<int32_t>& suffix, int depth = 0) {
  if (p.is_null()) return;
  const std::string type = p.at("type").get<std::string>();
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "Sequence") {
    check_sequence_depth(depth, path, "post-processor");
    // Each processor wraps the result of the previous ones.
    for (const json& s : p.at("processors")) {
      std::vector<int32_t> pre, post;
      read_post_processor(s, path, pre, post, depth + 1);
      prefix.insert(prefix.begin(), pre.begin(), pre.end());
      suffix.insert(suffix.end(), post.begin(), post.end());
    }
  } else if (type == "TemplateProcessing") {
    bool seen_sequence = false;
    for (const json& item : p.at("single")) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
      } else {
        const auto ids = special_ids(p, item, path);
        auto& side = seen_sequence ? suffix : prefix;
        side.insert(side.end(), ids.begin(), ids.end());
      }
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    prefix.push_back(json_token_id(p.at("cls").at(1), path, [] { return std::string("post_processor.cls[1]"); }));
    suffix.push_back(json_token_id(p.at("sep").at(1), path, [] { return std::string("post_processor.sep[1]"); }));
  } else {
    fail(path, "unsupported post-processor " + type);
  }
}

void read_decoder(const json& d, const std::string& path, std::vector<DecoderStep>& out, int depth = 0) {
  if (d.is_null()) return;
  const std::string type = d.at("type").get<std::string>();
  DecoderStep step{DecoderStep::ByteLevel};
  if (type == "Sequence") {
    check_sequence_depth(depth, path, "decoder");
    for (const json& s : d.at("decoders")) read_decoder(s, path, out, depth + 1);
    return;
  } else if (type == "ByteLevel") {
  } else if (type == "Replace") {
    step.kind = DecoderStep::Replace;
    step.pattern = string_pattern(d, path);
    step.content = d.at("content").get<std::string>();
  } else if (type == "ByteFallback") {
    step.kind = DecoderStep::ByteFallback;
  } else if (type == "Fuse") {
    step.kind = DecoderStep::Fuse;
  } else if (type == "Strip") {
    step.kind = DecoderStep::Strip;
    step.content = d.at("content").get<std::string>();
    step.start = d.value("start", size_t{0});
    step.stop = d.value("stop", size_t{0});
  } else if (type == "Metaspace") {
    step.kind = DecoderStep::Metaspace;
    step.replacement = metaspace_replacement(d, path);
    step.prepend = prepend_scheme(d);
  } else {
    fail(path, "unsupported decoder " + type);
  }
  out.push_back(step);
}

std::string model_type(const json& model) {
  if (model.contains("type") && model["type"].is_string()) return model["type"].get<std::string>();
  return model.contains("merges") ? "BPE" : "";  // very old files omit the type
}

BpeSource read_bpe_model(const json& m, const std::string& path) {
  const std::string type = model_type(m);
  if (type != "BPE") fail(path, "unsupported model type " + (type.empty() ? std::string("(none)") : type) + " (only BPE)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!text_of(m, key).empty()) fail(path, std::string("unsupported BPE option ") + key);
  }
  BpeSource src;
  const json& vocab = m.at("vocab");
  if (!vocab.is_object()) fail(path, "model.vocab is not an object {token: id}");
  std::vector<std::pair<std::string, int32_t>> entries;
  entries.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items())
    entries.emplace_back(token, json_token_id(id, path, [&] { return "model.vocab[" + quote_text(token) + "]"; }));
  src.tokens = tokens_by_id(entries, path, "model.vocab");
  for (const json& merge : m.at("merges")) {
    if (merge.is_array()) {  // ["a", "b"]: the format that allows spaces in tokens
      src.merges.emplace_back(merge.at(0).get<std::string>(), merge.at(1).get<std::string>());
      continue;
    }
    const std::string line = merge.get<std::string>();
    const size_t space = line.find(' ');
    if (space == std::string::npos) fail(path, "bad merge '" + line + "'");
    src.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  src.options.unk_token = text_of(m, "unk_token");
  src.options.byte_fallback = flag(m, "byte_fallback", false);
  src.options.fuse_unk = flag(m, "fuse_unk", false);
  src.options.ignore_merges = flag(m, "ignore_merges", false);
  return src;
}

}  // namespace

TokenizerJson read_tokenizer_json(const std::string& path) {
  TokenizerJson out;
  try {
    const json j = parse_json(read_file(path), path, "invalid tokenizer.json");
    out.bpe = read_bpe_model(j.at("model"), path);
    if (j.contains("added_tokens")) {
      for (const json& a : j["added_tokens"]) {
        AddedToken t;
        t.content = a.at("content").get<std::string>();
        t.id = json_token_id(a.at("id"), path, [&] {
          return "added_tokens[" + std::to_string(out.bpe.added_tokens.size()) + "].id";
        });
        t.special = flag(a, "special", false);
        t.lstrip = flag(a, "lstrip", false);
        t.rstrip = flag(a, "rstrip", false);
        t.single_word = flag(a, "single_word", false);
        out.bpe.added_tokens.push_back(t);
      }
    }
    HfPipeline& p = out.pipeline;
    read_normalizer(j.value("normalizer", json()), path, p.normalizers);
    read_pre_tokenizer(j.value("pre_tokenizer", json()), path, p.pre_tokenizers);
    read_post_processor(j.value("post_processor", json()), path, p.prefix, p.suffix);
    read_decoder(j.value("decoder", json()), path, p.decoders);
    out.bpe.options.byte_level = std::any_of(p.pre_tokenizers.begin(), p.pre_tokenizers.end(),
                                             [](const PreTokenizerStep& s) { return s.kind == PreTokenizerStep::ByteLevel; });
  } catch (const json::exception& e) {
    fail(path, std::string("invalid tokenizer.json: ") + e.what());
  }
  return out;
}

}  // namespace ob1q::text
