// Tokenizers of the families of issue 13: NFC and the Qwen2 split regex (hand-computed cases),
// transformers 5's GemmaTokenizer pipeline on a hand-made vocabulary, and byte-exact agreement with
// transformers on the hard strings for the small tokenizers of scripts/reference/make_family_fixtures.py
// (tests/fixtures/families/tokenizers; skipped until they are generated).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ob1q/common/file.hpp"
#include "ob1q/text/pretokenize_regex.hpp"
#include "ob1q/text/tokenizer.hpp"
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

// GemmaTokenizer: spaces become "▁" without a dummy prefix, BOS <bos> by default, byte fallback.
TEST(GemmaTokenizer, NoDummyPrefixBosAndByteFallback) {
  const std::string dir = test::temp_dir("gemma-tok");
  const json vocab = {{"<pad>", 0}, {"<eos>", 1}, {"<bos>", 2}, {"<unk>", 3}, {"\u2581", 4}, {"a", 5}, {"b", 6},
                      {"\u2581a", 7}, {"\u2581b", 8}, {"<0x63>", 9}};
  const json tok = {{"version", "1.0"},
                    {"added_tokens", json::array({{{"id", 2}, {"content", "<bos>"}, {"special", true}},
                                                  {{"id", 1}, {"content", "<eos>"}, {"special", true}}})},
                    {"normalizer", nullptr},
                    {"pre_tokenizer", nullptr},
                    {"post_processor", nullptr},
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
