// HF's Split pre-tokenizer: every SplitDelimiterBehavior, inverted or not, on literal ({"String"})
// and regex patterns. Expected cuts are the examples of HF tokenizers' own documentation and tests
// (normalizer.rs doc comment, pattern.rs and pre_tokenizers/split.rs tests) or worked by hand from
// the definition there.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/split_delimiter.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;
using text::SplitBehavior;
using nlohmann::json;

namespace {

using V = std::vector<std::string>;

V split(std::string_view s, std::string_view literal, SplitBehavior b, bool invert = false) {
  std::vector<text::SplitSpan> spans;
  text::find_literal_matches(s, literal, spans);
  std::vector<std::string_view> out;
  text::split_spans(spans, b, invert, out);
  return V(out.begin(), out.end());
}

V split_regex(std::string_view s, text::SplitPattern p, SplitBehavior b, bool invert = false) {
  std::vector<text::SplitSpan> spans;
  text::find_regex_matches(p, s, spans);
  std::vector<std::string_view> out;
  text::split_spans(spans, b, invert, out);
  return V(out.begin(), out.end());
}

// A tokenizer.json over the letters a, b, "-" with the merges "- a" (first) and "a -", and the
// given pre-tokenizer.
std::string tokenizer_dir(const std::string& tag, const json& pre_tokenizer) {
  const std::string dir = test::temp_dir(tag);
  const json tok = {{"model",
                     {{"type", "BPE"},
                      {"vocab", {{"a", 0}, {"b", 1}, {"-", 2}, {"-a", 3}, {"a-", 4}}},
                      {"merges", {"- a", "a -"}}}},
                    {"pre_tokenizer", pre_tokenizer}};
  write_file_atomic(path_join(dir, "tokenizer.json"), tok.dump());
  return dir;
}

json split_step(const json& pattern, const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}};
}

std::string load_error(const std::string& dir) {
  try {
    text::load_tokenizer(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// normalizer.rs documents the behaviors with "the-final--countdown" split at '-'.
TEST(SplitPretokenizer, BehaviorsOfTheHfDocumentation) {
  const std::string s = "the-final--countdown";
  EXPECT_EQ(split(s, "-", SplitBehavior::Removed), (V{"the", "final", "countdown"}));
  EXPECT_EQ(split(s, "-", SplitBehavior::Isolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split(s, "-", SplitBehavior::MergedWithPrevious), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split(s, "-", SplitBehavior::MergedWithNext), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split(s, "-", SplitBehavior::Contiguous), (V{"the", "-", "final", "--", "countdown"}));
}

TEST(SplitPretokenizer, DelimitersAtTheEdgesAndLongerLiterals) {
  // Leading and trailing runs: a match merges only with a non-match next to it.
  EXPECT_EQ(split("--a--", "-", SplitBehavior::MergedWithPrevious), (V{"-", "-", "a-", "-"}));
  EXPECT_EQ(split("--a--", "-", SplitBehavior::MergedWithNext), (V{"-", "-a", "-", "-"}));
  EXPECT_EQ(split("--a--", "-", SplitBehavior::Contiguous), (V{"--", "a", "--"}));
  EXPECT_EQ(split("--", "-", SplitBehavior::Removed), V{});
  EXPECT_EQ(split("", "-", SplitBehavior::Isolated), V{});
  EXPECT_EQ(split("no delimiter", "-", SplitBehavior::MergedWithPrevious), V{"no delimiter"});
  // pattern.rs: "ab" in "aabbab" matches at 1..3 and 4..6; occurrences never overlap.
  EXPECT_EQ(split("aabbab", "ab", SplitBehavior::Isolated), (V{"a", "ab", "b", "ab"}));
  EXPECT_EQ(split("aaaa", "aa", SplitBehavior::Isolated), (V{"aa", "aa"}));
  EXPECT_EQ(split("aaa", "aa", SplitBehavior::MergedWithNext), V{"aaa"});
  // Multi-byte literals cut at byte offsets of whole characters.
  EXPECT_EQ(split("a\xE2\x96\x81" "b\xE2\x96\x81", "\xE2\x96\x81", SplitBehavior::MergedWithPrevious),
            (V{"a\xE2\x96\x81", "b\xE2\x96\x81"}));
}

// split.rs: an inverted Split at "Hello" with Removed cuts like a Split at " ".
TEST(SplitPretokenizer, InvertSwapsMatchesAndTheTextBetween) {
  const std::string s = "Hello Hello Hello";
  EXPECT_EQ(split(s, "Hello", SplitBehavior::Removed, true), split(s, " ", SplitBehavior::Removed));
  EXPECT_EQ(split(s, " ", SplitBehavior::Removed), (V{"Hello", "Hello", "Hello"}));
  // Inverted, the words are the matches: each merges with the space before it.
  EXPECT_EQ(split("How are you", " ", SplitBehavior::MergedWithPrevious, true), (V{"How", " are", " you"}));
  EXPECT_EQ(split("How are you", " ", SplitBehavior::MergedWithNext, true), (V{"How ", "are ", "you"}));
  EXPECT_EQ(split("How are you", " ", SplitBehavior::MergedWithPrevious), (V{"How ", "are ", "you"}));
  EXPECT_EQ(split("How are you", " ", SplitBehavior::MergedWithNext), (V{"How", " are", " you"}));
}

// The regex scanners' pieces are all matches (they cover the text).
TEST(SplitPretokenizer, RegexPatternsWithEveryBehavior) {
  const auto l = text::SplitPattern::Llama3;
  const V pieces = {"I", "'m", " ok", "!"};
  EXPECT_EQ(split_regex("I'm ok!", l, SplitBehavior::Isolated), pieces);
  EXPECT_EQ(split_regex("I'm ok!", l, SplitBehavior::MergedWithPrevious), pieces);
  EXPECT_EQ(split_regex("I'm ok!", l, SplitBehavior::MergedWithNext), pieces);
  EXPECT_EQ(split_regex("I'm ok!", l, SplitBehavior::Removed), V{});
  EXPECT_EQ(split_regex("I'm ok!", l, SplitBehavior::Contiguous), V{"I'm ok!"});
  EXPECT_EQ(split_regex("I'm ok!", l, SplitBehavior::Removed, true), pieces);
}

// Through tokenizer.json: "a-a" with merges "- a" (rank 0) and "a -" (rank 1). As one word it is
// a + "-a"; each behavior decides which merges can still happen.
TEST(SplitPretokenizer, TokenizerJsonStringPatterns) {
  using Ids = std::vector<int32_t>;
  const json dash = {{"String", "-"}};
  const auto encode = [&](const std::string& tag, const json& pre, const std::string& s) {
    return text::load_tokenizer(tokenizer_dir(tag, pre))->encode(s, false);
  };
  EXPECT_EQ(encode("split-none", nullptr, "a-a"), (Ids{0, 3}));
  EXPECT_EQ(encode("split-iso", split_step(dash, "Isolated"), "a-a"), (Ids{0, 2, 0}));
  EXPECT_EQ(encode("split-prev", split_step(dash, "MergedWithPrevious"), "a-a"), (Ids{4, 0}));
  EXPECT_EQ(encode("split-next", split_step(dash, "MergedWithNext"), "a-a"), (Ids{0, 3}));
  EXPECT_EQ(encode("split-rm", split_step(dash, "Removed"), "a-a"), (Ids{0, 0}));
  EXPECT_EQ(encode("split-cont", split_step(dash, "Contiguous"), "a--ab"), (Ids{0, 2, 2, 0, 1}));
  // Inverted, the letters are the matches: the first joins the "-" after it.
  EXPECT_EQ(encode("split-inv", split_step(dash, "MergedWithNext", true), "a-a"), (Ids{4, 0}));
  // Steps of a Sequence each cut the pieces of the one before.
  const json steps = {split_step({{"String", "b"}}, "Removed"), split_step(dash, "MergedWithPrevious")};
  const json seq = {{"type", "Sequence"}, {"pretokenizers", steps}};
  EXPECT_EQ(encode("split-seq", seq, "a-ba-a"), (Ids{4, 4, 0}));
}

TEST(SplitPretokenizer, UnsupportedSplitsAreNamed) {
  const std::string file = "tokenizer.json: ";
  std::string dir = tokenizer_dir("split-empty", split_step({{"String", ""}}, "Isolated"));
  EXPECT_EQ(load_error(dir), path_join(dir, file + "Split pattern {\"String\": \"\"} is empty"));
  dir = tokenizer_dir("split-behavior", split_step({{"String", "-"}}, "merged_with_next"));
  EXPECT_EQ(load_error(dir),
            path_join(dir, file + "unsupported Split behavior \"merged_with_next\" (supported: Removed, Isolated, "
                                  "MergedWithPrevious, MergedWithNext, Contiguous)"));
  dir = tokenizer_dir("split-regex", split_step({{"Regex", "\\s+"}}, "Isolated"));
  EXPECT_EQ(load_error(dir), path_join(dir, file + "unsupported Split pattern {\"Regex\":\"\\\\s+\"} (supported: any "
                                                   "{\"String\": ...}, and the GPT-2, LLaMA-3 and Qwen2 regexes)"));
  dir = tokenizer_dir("split-type", split_step({{"String", 7}}, "Isolated"));
  const std::string e = load_error(dir);
  EXPECT_NE(e.find(path_join(dir, file + "invalid tokenizer.json")), std::string::npos) << e;
}
