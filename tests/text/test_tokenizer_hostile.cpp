// Hostile tokenizer files (issue 16): every token id is checked before a table is sized by it,
// pipeline nesting is bounded, deep JSON is refused before anything recurses over it. Each case
// is a minimal reproducer of a crash, an absurd allocation or a silently wrong table; each error
// is one line naming the file.
#include <gtest/gtest.h>

#include <functional>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

// "<dir>" holding the given files.
std::string dir_with(const std::string& tag, const std::vector<std::pair<std::string, std::string>>& files) {
  const std::string dir = test::temp_dir(tag);
  for (const auto& [name, content] : files) write_file_atomic(path_join(dir, name), content);
  return dir;
}

// The error load_tokenizer gives for `dir` ("" when it loads), with "<dir>/" cut out of it.
std::string load_error(const std::string& dir) {
  try {
    text::load_tokenizer(dir);
  } catch (const Error& e) {
    std::string what = e.what();
    for (size_t at; (at = what.find(dir + "/")) != std::string::npos;) what.erase(at, dir.size() + 1);
    return what;
  }
  return "";
}

// A tokenizer.json with the given model vocabulary and extra top-level members.
std::string tokenizer_json(const std::string& vocab, const std::string& extra = "", const std::string& merges = "[]") {
  return R"({"model": {"type": "BPE", "vocab": )" + vocab + R"(, "merges": )" + merges +
         R"(}, "pre_tokenizer": {"type": "Metaspace"})" + extra + "}";
}

// The error for a directory holding just this tokenizer.json.
std::string json_error(const std::string& tag, const std::string& content) {
  return load_error(dir_with(tag, {{"tokenizer.json", content}}));
}

const std::string kIdRange = "expected an integer in [0, 2147483647]";

// --- SentencePiece model files, written field by field (protobuf wire format) -----------------

std::string varint(uint64_t v) {
  std::string out;
  for (; v >= 0x80; v >>= 7) out += static_cast<char>((v & 0x7F) | 0x80);
  return out + static_cast<char>(v);
}
std::string bytes_field(int field, const std::string& payload) {
  return varint(static_cast<uint64_t>(field) << 3 | 2) + varint(payload.size()) + payload;
}
std::string varint_field(int field, uint64_t v) { return varint(static_cast<uint64_t>(field) << 3) + varint(v); }

// A BPE tokenizer.model of normal pieces (scores 0).
std::string sentencepiece_model(const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& p : pieces) out += bytes_field(1, bytes_field(1, p) + varint_field(3, 1));
  return out + bytes_field(2, varint_field(3, 2));
}

// "{"type": "Sequence", KEY: [ ... [LEAF] ... ]}" nested `depth` times.
std::string nested_sequence(const std::string& key, const std::string& leaf, int depth) {
  std::string open, close;
  for (int k = 0; k < depth; ++k) open += R"({"type": "Sequence", ")" + key + R"(": [)", close += "]}";
  return open + leaf + close;
}

}  // namespace

// Negative, too large, fractional or wrapped ids in model.vocab wrote out of bounds (SIGSEGV) or
// landed on another token's id.
TEST(TokenizerHostile, VocabIdsMustBeTokenIds) {
  struct Case {
    const char* id;
    const char* shown;
  };
  for (const Case& c : {Case{"-5", "-5"}, Case{"2147483651", "2147483651"}, Case{"4294967297", "4294967297"},
                        Case{"1.5", "1.5"}, Case{"\"2\"", "\"2\""}, Case{"null", "null"}}) {
    const std::string e =
        json_error("tok-vocab-id", tokenizer_json(std::string(R"({"a": 0, "b": 1, "c": )") + c.id + "}"));
    EXPECT_EQ(e, std::string("tokenizer.json: model.vocab[\"c\"] is ") + c.shown + ", " + kIdRange) << c.id;
  }
}

// One id of 100,000,000 in a 60-byte file sized a 4 GB table.
TEST(TokenizerHostile, IdsFarBeyondTheEntriesAreRefusedBeforeAllocating) {
  const std::string e =
      json_error("tok-far-id", R"({"model": {"type": "BPE", "vocab": {"a": 100000000}, "merges": []}})");
  EXPECT_EQ(e,
            "tokenizer.json: model.vocab[\"a\"] is 100000000, far beyond the 1 ids defined (ids must be below 1026)");
}

// Two spellings with one id: the table kept one of them, the other vanished from the vocabulary.
TEST(TokenizerHostile, DuplicateVocabIds) {
  const std::string e = json_error("tok-dup-id", tokenizer_json(R"({"a": 0, "b": 1, "c": 1})"));
  EXPECT_EQ(e, "tokenizer.json: model.vocab: \"b\" and \"c\" both have id 1");
}

TEST(TokenizerHostile, AddedTokenIds) {
  const std::string vocab = R"({"a": 0, "b": 1, "ab": 2})";
  const auto added = [&](const std::string& list) { return tokenizer_json(vocab, R"(, "added_tokens": )" + list); };
  EXPECT_EQ(json_error("tok-added", added(R"([{"content": "<x>", "id": -3}])")),
            "tokenizer.json: added_tokens[0].id is -3, " + kIdRange);
  // 2e9 sized a 16 GB table of added tokens.
  EXPECT_EQ(
      json_error("tok-added", added(R"([{"content": "<x>", "id": 2000000000}])")),
      "tokenizer.json: added token \"<x>\" has id 2000000000, far beyond the 4 ids defined (ids must be below 1032)");
  EXPECT_EQ(json_error("tok-added", added(R"([{"content": "<x>", "id": 3}, {"content": "<y>", "id": 3}])")),
            "tokenizer.json: added tokens \"<x>\" and \"<y>\" both have id 3");
  // HF would use the vocabulary's id (with a warning), this file claims another.
  EXPECT_EQ(json_error("tok-added", added(R"([{"content": "ab", "id": 0}])")),
            "tokenizer.json: added token \"ab\" has id 0, the vocabulary gives it id 2");
  EXPECT_EQ(json_error("tok-added", added(R"([{"content": "<x>", "id": 3}, {"content": "<x>", "id": 4}])")),
            "tokenizer.json: added token \"<x>\" appears twice (ids 3 and 4)");
  // Still fine: an added token that is also in the vocabulary under its id, and one after it.
  EXPECT_EQ(json_error("tok-added", added(R"([{"content": "ab", "id": 2}, {"content": "<x>", "id": 3}])")), "");
}

TEST(TokenizerHostile, ConfigAddedTokenIds) {
  const std::string json = tokenizer_json(R"({"a": 0, "b": 1, "ab": 2})");
  const auto config_error = [&](const std::string& key) {
    return load_error(dir_with("tok-config-added", {{"tokenizer.json", json},
                                                    {"tokenizer_config.json", R"({"added_tokens_decoder": {")" + key +
                                                                                  R"(": {"content": "<x>"}}})"}}));
  };
  EXPECT_EQ(config_error("2000000000"),
            "tokenizer_config.json: added token \"<x>\" has id 2000000000, far beyond the 4 ids defined (ids must be "
            "below 1032)");
  EXPECT_EQ(config_error("7x"), "tokenizer_config.json: added_tokens_decoder key \"7x\" is not a token id");
  EXPECT_EQ(config_error("-1"), "tokenizer_config.json: added_tokens_decoder key \"-1\" is not a token id");
}

// Post-processor ids went straight into every encoded sequence (and so into the embedding).
TEST(TokenizerHostile, PostProcessorIds) {
  const std::string vocab = R"({"a": 0, "b": 1, "ab": 2})";
  const std::string template_neg =
      R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}},
      {"Sequence": {"id": "A"}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [-7], "tokens": ["<s>"]}}})";
  EXPECT_EQ(json_error("tok-post", tokenizer_json(vocab, template_neg)),
            "tokenizer.json: post_processor.special_tokens[\"<s>\"].ids[0] is -7, " + kIdRange);
  const std::string roberta =
      R"(, "post_processor": {"type": "RobertaProcessing", "cls": ["<s>", 999999], "sep": ["</s>", 2]})";
  EXPECT_EQ(json_error("tok-post", tokenizer_json(vocab, roberta)),
            "tokenizer.json: the post-processor adds id 999999, which is not a token (the vocabulary has ids 0..2)");
}

TEST(TokenizerHostile, Gpt2EncoderIds) {
  const auto gpt2_error = [](const std::string& encoder) {
    return load_error(dir_with("tok-gpt2", {{"encoder.json", encoder}, {"vocab.bpe", "#version: 0.2\n"}}));
  };
  EXPECT_EQ(gpt2_error(R"({"a": -1})"), "encoder.json: the id of \"a\" is -1, " + kIdRange);
  EXPECT_EQ(gpt2_error(R"({"a": 4294967297, "b": 1})"), "encoder.json: the id of \"a\" is 4294967297, " + kIdRange);
  EXPECT_EQ(gpt2_error(R"({"a": 100000000})"),
            "encoder.json: the id of \"a\" is 100000000, far beyond the 1 ids defined (ids must be below 1026)");
  EXPECT_EQ(gpt2_error(R"({"a": 0, "b": 0})"), "encoder.json: \"a\" and \"b\" both have id 0");
  EXPECT_EQ(gpt2_error(R"(["a", "b"])"), "encoder.json: not an object {token: id}");
}

// SentencePiece itself refuses a model that defines a piece twice; the converted vocabulary
// silently kept one of the two ids.
TEST(TokenizerHostile, SentencePieceDuplicatePieces) {
  const std::string dir = dir_with("tok-sp-dup", {{"tokenizer.model", sentencepiece_model({"<unk>", "a", "b", "a"})}});
  EXPECT_EQ(load_error(dir), "tokenizer.model: piece \"a\" appears twice (ids 1 and 3)");
}

// HF refuses merges of tokens outside the vocabulary too.
TEST(TokenizerHostile, MergesOfUnknownTokens) {
  EXPECT_EQ(json_error("tok-merge", tokenizer_json(R"({"a": 0, "b": 1})", "", R"(["a z"])")),
            "tokenizer.json: merge 'a z' uses a token that is not in the vocabulary");
}

// Callers compare max_id() with the model's embedding rows; check_tokenizer_fits does it.
TEST(TokenizerHostile, MaxIdBoundsEveryEncodedId) {
  const std::string dir = dir_with(
      "tok-max-id",
      {{"tokenizer.json", tokenizer_json(R"({"a": 0, "b": 1, "ab": 2, "\u2581": 3})",
                                         R"(, "added_tokens": [{"content": "<x>", "id": 6}])", R"(["a b"])")}});
  const auto tok = text::load_tokenizer(dir);
  EXPECT_EQ(tok->max_id(), 6);
  EXPECT_EQ(tok->vocab_size(), 7);
  EXPECT_EQ(tok->encode("ab<x>", false), (std::vector<int32_t>{3, 2, 6}));
  text::check_tokenizer_fits(*tok, 7, "model");
  try {
    text::check_tokenizer_fits(*tok, 6, "m/config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "m/config.json: the tokenizer's largest id is 6, the model's vocab_size is only 6 "
              "(embedding rows 0..5)");
  }
}

// A Sequence nested 50,000 deep overflowed the stack (SIGSEGV) in each of the four readers.
TEST(TokenizerHostile, SequenceNestingIsBounded) {
  const std::string model = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";
  struct Kind {
    const char *member, *key, *leaf, *name;
  };
  for (const Kind& k : {Kind{"normalizer", "normalizers", R"({"type": "Prepend", "prepend": "x"})", "normalizer"},
                        Kind{"pre_tokenizer", "pretokenizers", R"({"type": "Metaspace"})", "pre-tokenizer"},
                        Kind{"decoder", "decoders", R"({"type": "Fuse"})", "decoder"},
                        Kind{"post_processor", "processors", R"({"type": "ByteLevel"})", "post-processor"}}) {
    const std::string pre =
        std::string(k.member) == "pre_tokenizer" ? "" : R"(, "pre_tokenizer": {"type": "Metaspace"})";
    const auto doc = [&](int depth) {
      return model + pre + ", \"" + k.member + "\": " + nested_sequence(k.key, k.leaf, depth) + "}";
    };
    EXPECT_EQ(json_error("tok-nest", doc(32)), "") << k.name;
    EXPECT_EQ(json_error("tok-nest", doc(33)),
              std::string("tokenizer.json: ") + k.name + " Sequence nested deeper than 32 levels");
    EXPECT_EQ(json_error("tok-nest", doc(50000)),
              "tokenizer.json: invalid tokenizer.json: arrays and objects nested deeper than 256 levels");
  }
}

// nlohmann parses deep JSON iteratively, but copying or dumping a value recurses: a Split
// pattern of 1,000,000 nested arrays (dumped into an error message) or a normalizer of them
// (copied) crashed. Every JSON reader of the text area refuses such input up front.
TEST(TokenizerHostile, DeepJsonIsRefusedUpFront) {
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  const std::string model = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";
  const std::string expected = ": invalid tokenizer.json: arrays and objects nested deeper than 256 levels";
  EXPECT_EQ(json_error("tok-deep", model + R"(, "pre_tokenizer": {"type": "Split", "pattern": )" + deep + "}}"),
            "tokenizer.json" + expected);
  EXPECT_EQ(json_error("tok-deep", model + R"(, "pre_tokenizer": {"type": "Metaspace"}, "normalizer": )" + deep + "}"),
            "tokenizer.json" + expected);
  // Brackets inside strings do not count; 256 levels are fine.
  const std::string ok = model + R"(, "pre_tokenizer": {"type": "Metaspace"}, "x": ")" + std::string(1000, '[') +
                         R"(", "y": )" + std::string(254, '[') + std::string(254, ']') + "}";
  EXPECT_EQ(json_error("tok-deep", ok), "");
  const std::string config_dir = dir_with("tok-deep-config", {{"tokenizer.json", tokenizer_json(R"({"a": 0})")},
                                                              {"tokenizer_config.json", R"({"x": )" + deep + "}"}});
  EXPECT_EQ(load_error(config_dir),
            "tokenizer_config.json: invalid JSON: arrays and objects nested deeper than 256 levels");
}

// Wrong JSON types in tokenizer_config.json / config.json escaped as nlohmann::type_error (exit 2).
TEST(TokenizerHostile, ConfigTypesAreChecked) {
  const std::string json = tokenizer_json(R"({"a": 0, "\u2581": 1})");
  std::string dir = dir_with("tok-config-type",
                             {{"tokenizer.json", json}, {"tokenizer_config.json", R"({"bos_token": {"content": 5}})"}});
  EXPECT_EQ(load_error(dir), "tokenizer_config.json: bos_token is not a string or {\"content\": string}");
  dir = dir_with("tok-config-type", {{"tokenizer.json", json}, {"config.json", R"({"model_type": 5})"}});
  EXPECT_EQ(load_error(dir), "");  // config.json's model_type only picks a default class; io reports its own errors
}

// HF's Metaspace replacement is one character; an empty one made the pre-tokenizer loop forever.
TEST(TokenizerHostile, MetaspaceReplacementIsOneCharacter) {
  const std::string model = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []})";
  EXPECT_EQ(json_error("tok-meta", model + R"(, "pre_tokenizer": {"type": "Metaspace", "replacement": ""}})"),
            "tokenizer.json: Metaspace replacement \"\" is not one character");
  EXPECT_EQ(json_error("tok-meta", model + R"(, "pre_tokenizer": {"type": "Metaspace"},
                                               "decoder": {"type": "Metaspace", "replacement": "ab"}})"),
            "tokenizer.json: Metaspace replacement \"ab\" is not one character");
  const std::string dir = dir_with("tok-meta", {{"tokenizer.json", model + R"(, "pre_tokenizer": {"type": "Metaspace",
                                                     "replacement": "\u00e9"}})"}});
  EXPECT_EQ(text::load_tokenizer(dir)->encode("a", false), (std::vector<int32_t>{0}));  // "éa": é is unknown, dropped
}
