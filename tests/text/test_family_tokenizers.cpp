// Tokenizers of the families of issue 13: NFC and the Qwen2 split regex (hand-computed cases),
// transformers 5's GemmaTokenizer pipeline on a hand-made vocabulary, and byte-exact agreement with
// transformers on the hard strings for the small tokenizers of scripts/reference/make_family_fixtures.py
// (tests/fixtures/families/tokenizers; skipped until they are generated).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ob1q/common/file.hpp"
#include "ob1q/text/pretokenize_regex.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "ob1q/text/tokenizer_sources.hpp"
#include "ob1q/text/unicode_nfc.hpp"
#include "test_support.hpp"

using namespace ob1q;
using nlohmann::json;

TEST(Nfc, ComposesReordersAndKeepsCompatibilityCharacters) {
  EXPECT_EQ(text::nfc("plain ascii"), "plain ascii");
  EXPECT_EQ(text::nfc("e\u0301te\u0301"), "\u00e9t\u00e9");                   // e + acute -> é
  EXPECT_EQ(text::nfc("a\u0307\u0323"), "\u1ea1\u0307");                       // dot below (220) sorts before dot above (230)
  EXPECT_EQ(text::nfc("\u212b \u2126"), "\u00c5 \u03a9");                      // singletons: Angstrom, Ohm
  EXPECT_EQ(text::nfc("\u1100\u1161\u11a8"), "\uac01");                        // Hangul L V T -> one syllable
  EXPECT_EQ(text::nfc("\ufb01 \uff21 \u2167"), "\ufb01 \uff21 \u2167");        // compatibility forms stay (NFKC only)
  EXPECT_EQ(text::nfc("\u0344"), "\u0308\u0301");                              // excluded: decomposes, never recomposes
  EXPECT_EQ(text::nfc("a\xff" "e\u0301"), "a\xff\u00e9");                      // invalid bytes pass through
}

TEST(PretokenizeRegex, Qwen2SplitsDigitsOneByOne) {
  std::vector<std::string_view> q, l;
  text::split_by_pattern(text::SplitPattern::Qwen2, "I'm 2024 ok", q);
  text::split_by_pattern(text::SplitPattern::Llama3, "I'm 2024 ok", l);
  EXPECT_EQ(q, (std::vector<std::string_view>{"I", "'m", " ", "2", "0", "2", "4", " ok"}));
  EXPECT_EQ(l, (std::vector<std::string_view>{"I", "'m", " ", "202", "4", " ok"}));
  text::SplitPattern p;
  ASSERT_TRUE(text::find_split_pattern(text::split_pattern_regex(text::SplitPattern::Qwen2), &p));
  EXPECT_EQ(p, text::SplitPattern::Qwen2);
}

namespace {

// The TemplateProcessing of the LLaMA-2, Gemma, Mistral and Phi-3 tokenizer.json files: `bos` before
// each sequence.
json bos_template(const std::string& bos, int32_t id) {
  const json special = {{"SpecialToken", {{"id", bos}, {"type_id", 0}}}};
  const json sequence = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  return {{"type", "TemplateProcessing"},
          {"single", {special, sequence}},
          {"pair", json::array()},
          {"special_tokens", {{bos, {{"id", bos}, {"ids", {id}}, {"tokens", {bos}}}}}}};
}

}  // namespace

// GemmaTokenizer: spaces become "▁" without a dummy prefix, byte fallback, BOS from the file's
// post-processor.
TEST(GemmaTokenizer, NoDummyPrefixBosAndByteFallback) {
  const std::string dir = test::temp_dir("gemma-tok");
  const json vocab = {{"<pad>", 0}, {"<eos>", 1}, {"<bos>", 2}, {"<unk>", 3}, {"\u2581", 4}, {"a", 5}, {"b", 6},
                      {"\u2581a", 7}, {"\u2581b", 8}, {"<0x63>", 9}};
  const json tok = {{"version", "1.0"},
                    {"added_tokens", json::array({{{"id", 2}, {"content", "<bos>"}, {"special", true}},
                                                  {{"id", 1}, {"content", "<eos>"}, {"special", true}}})},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", nullptr},
                    {"post_processor", bos_template("<bos>", 2)},
                    {"decoder", nullptr},
                    {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true}, {"fuse_unk", true},
                               {"vocab", vocab}, {"merges", {"\u2581 a", "\u2581 b"}}}}};
  write_file_atomic(dir + "/tokenizer.json", tok.dump());
  write_file_atomic(dir + "/tokenizer_config.json", json{{"tokenizer_class", "GemmaTokenizer"}}.dump());
  const auto t = text::load_tokenizer(dir);
  EXPECT_EQ(t->encode("a b"), (std::vector<int32_t>{2, 5, 8}));  // "a▁b": no "▁" before the first word
  EXPECT_EQ(t->encode(" a", false), (std::vector<int32_t>{7}));
  EXPECT_EQ(t->encode("c<eos>"), (std::vector<int32_t>{2, 9, 1}));  // byte fallback, special token cut out
  EXPECT_EQ(t->decode({5, 8}), "a b");
  EXPECT_EQ(t->bos_id(), 2);
  EXPECT_EQ(t->eos_id(), 1);
  EXPECT_EQ(t->kind(), "sentencepiece");
}

// transformers 5 drops add_bos_token / add_eos_token of tokenizer_config.json when it loads a
// tokenizer.json and keeps the file's post-processor, also for the classes that rebuild the rest
// of the pipeline (LlamaTokenizer, GemmaTokenizer): the phi3 fixture says add_bos_token false
// and gets BOS. Hand-made files: "a" is "▁a" (id 3) behind LlamaTokenizer's Metaspace.
TEST(TokenizerSpecials, TokenizerJsonPostProcessorDecidesNotTheConfig) {
  const auto dir_with = [](const std::string& tag, const json& post_processor, const json& config) {
    const std::string dir = test::temp_dir(tag);
    const json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\u2581a", 3}, {"a", 4}, {"\u2581", 5}};
    const json tok = {{"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"vocab", vocab}, {"merges", {"\u2581 a"}}}},
                      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}},
                      {"post_processor", post_processor}};
    write_file_atomic(dir + "/tokenizer.json", tok.dump());
    write_file_atomic(dir + "/tokenizer_config.json", config.dump());
    return dir;
  };
  using Ids = std::vector<int32_t>;
  const json llama_no_bos = {{"tokenizer_class", "LlamaTokenizer"}, {"add_bos_token", false}};
  EXPECT_EQ(text::load_tokenizer(dir_with("specials-phi3", bos_template("<s>", 1), llama_no_bos))->encode("a"),
            (Ids{1, 3}));
  const json llama_bos_eos = {{"tokenizer_class", "LlamaTokenizer"}, {"add_bos_token", true}, {"add_eos_token", true}};
  EXPECT_EQ(text::load_tokenizer(dir_with("specials-none", nullptr, llama_bos_eos))->encode("a"), (Ids{3}));
  // A class that keeps the whole file (here its Replace normalizer: " a" is "▁a").
  const json fast_bos = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"add_bos_token", true}};
  EXPECT_EQ(text::load_tokenizer(dir_with("specials-fast", nullptr, fast_bos))->encode(" a"), (Ids{3}));
  EXPECT_EQ(text::load_tokenizer(dir_with("specials-fast-bos", bos_template("<s>", 1), fast_bos))->encode(" a"),
            (Ids{1, 3}));
}

// Without tokenizer.json the config's flags decide (transformers passes them to the class).
TEST(TokenizerSpecials, SentencePieceModelFollowsTheConfigFlags) {
  OB1Q_REQUIRE_SHARED();
  const std::string dir = test::temp_dir("specials-spm");
  write_file_atomic(dir + "/tokenizer.model", read_file_bytes(test::shared() + "/models/llama-s/tokenizer.model"));
  const auto encode = [&](const json& config) {
    write_file_atomic(dir + "/tokenizer_config.json", config.dump());
    return text::load_tokenizer(dir)->encode("Hello");
  };
  const auto plain = encode(json{{"add_bos_token", false}});
  ASSERT_FALSE(plain.empty());
  EXPECT_NE(plain.front(), 1);
  auto with_bos = plain;
  with_bos.insert(with_bos.begin(), 1);
  EXPECT_EQ(encode(json::object()), with_bos);  // BOS by default
  auto with_eos = plain;
  with_eos.push_back(2);
  EXPECT_EQ(encode(json{{"add_bos_token", false}, {"add_eos_token", true}}), with_eos);
}

// GemmaTokenizer gives each section whole to the BPE model; long ones are merged in chunks cut
// before "▁" (no token of the fixture has "▁" inside). The ids must be those of the whole word.
TEST(GemmaTokenizer, LongSectionsMergeAsOneWord) {
  const std::string root = test::fixtures() + "/families";
  if (!file_exists(root + "/tokenizers.json")) GTEST_SKIP() << "tests/fixtures/families is missing";
  const json all = json::parse(read_file(root + "/tokenizers.json"));
  std::string text;
  for (const json& c : all.at("gemma").at("cases")) {
    const std::string s = c.at("text").get<std::string>();
    if (s.find('<') == std::string::npos) text += s + " ";  // no special tokens: one section
  }
  ASSERT_GT(text.size(), 1000u);  // longer than the longest word merged whole (256 bytes)
  const std::string dir = root + "/tokenizers/gemma";
  text::TokenizerJson tj = text::read_tokenizer_json(dir + "/tokenizer.json");
  const text::BpeModel model(std::move(tj.bpe.tokens), tj.bpe.merges, tj.bpe.options, "gemma");
  std::string word;
  for (char ch : text) word += ch == ' ' ? std::string("\u2581") : std::string(1, ch);
  std::vector<int32_t> expected;
  text::BpeScratch scratch;
  model.encode_word(word, expected, scratch);
  EXPECT_EQ(text::load_tokenizer(dir)->encode(text, false), expected);
}

namespace {

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += std::to_string(id) + " ";
  return s;
}

}  // namespace

class FamilyTokenizer : public ::testing::TestWithParam<std::string> {};

TEST_P(FamilyTokenizer, EncodeMatchesTransformersOnEveryCase) {
  const std::string root = test::fixtures() + "/families";
  if (!file_exists(root + "/tokenizers.json"))
    GTEST_SKIP() << "tests/fixtures/families is missing: run scripts/reference/make_family_fixtures.py";
  const json all = json::parse(read_file(root + "/tokenizers.json"));
  const auto tok = text::load_tokenizer(root + "/tokenizers/" + GetParam());
  size_t matched = 0;
  const json& cases = all.at(GetParam()).at("cases");
  for (const json& c : cases) {
    const std::string s = c.at("text").get<std::string>();
    const auto ids = c.at("ids").get<std::vector<int32_t>>(), plain = c.at("ids_no_special").get<std::vector<int32_t>>();
    const auto got = tok->encode(s, true), got_plain = tok->encode(s, false);
    EXPECT_EQ(show(got), show(ids)) << GetParam() << " with special tokens: " << json(s).dump();
    EXPECT_EQ(show(got_plain), show(plain)) << GetParam() << " without special tokens: " << json(s).dump();
    matched += got == ids && got_plain == plain;
  }
  std::printf("[ %-7s ] %zu/%zu cases match transformers (%s)\n", GetParam().c_str(), matched, cases.size(),
              all.at(GetParam()).value("class", "?").c_str());
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FamilyTokenizer, ::testing::Values("qwen2", "gemma", "mistral", "phi3"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });
