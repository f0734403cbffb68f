// The hand-written GPT-2 / LLaMA-3 pre-tokenizer scanners against splits of the real regexes
// (checked during development against Python's `regex` module on 40k random strings).
#include <gtest/gtest.h>

#include "ob1q/text/pretokenize_regex.hpp"

using namespace ob1q::text;

namespace {

std::vector<std::string> split(SplitPattern p, const std::string& text) {
  std::vector<std::string_view> views;
  split_by_pattern(p, text, views);
  return std::vector<std::string>(views.begin(), views.end());
}

using V = std::vector<std::string>;

}  // namespace

TEST(PretokenizeRegex, RecognizesTokenizerJsonPatterns) {
  SplitPattern p = SplitPattern::Gpt2;
  EXPECT_TRUE(find_split_pattern(split_pattern_regex(SplitPattern::Llama3), &p));
  EXPECT_EQ(p, SplitPattern::Llama3);
  EXPECT_TRUE(find_split_pattern(split_pattern_regex(SplitPattern::Gpt2), &p));
  EXPECT_EQ(p, SplitPattern::Gpt2);
  EXPECT_FALSE(find_split_pattern("\\w+", &p));
}

TEST(PretokenizeRegex, Gpt2) {
  const auto g = SplitPattern::Gpt2;
  EXPECT_EQ(split(g, ""), V{});
  EXPECT_EQ(split(g, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(g, "a   b  "), (V{"a", "  ", " b", "  "}));
  EXPECT_EQ(split(g, "it's CAN'T we'll"), (V{"it", "'s", " CAN", "'", "T", " we", "'ll"}));
  EXPECT_EQ(split(g, "x\n\ny"), (V{"x", "\n", "\n", "y"}));
  EXPECT_EQ(split(g, "12345 3.14"), (V{"12345", " 3", ".", "14"}));
  EXPECT_EQ(split(g, "(\"hi\")! \xF0\x9F\x98\x80"), (V{"(\"", "hi", "\")!", " \xF0\x9F\x98\x80"}));
  EXPECT_EQ(split(g, "nbsp\xC2\xA0here"), (V{"nbsp", "\xC2\xA0", "here"}));
  EXPECT_EQ(split(g, " \t x"), (V{" \t", " x"}));
}

TEST(PretokenizeRegex, Llama3) {
  const auto l = SplitPattern::Llama3;
  EXPECT_EQ(split(l, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(l, "CAN'T WE'VE \xC5\xBF"), (V{"CAN", "'T", " WE", "'VE", " \xC5\xBF"}));
  EXPECT_EQ(split(l, "12345678"), (V{"123", "456", "78"}));
  EXPECT_EQ(split(l, "tabs\tand\nnew"), (V{"tabs", "\tand", "\n", "new"}));
  EXPECT_EQ(split(l, "a \n \nb"), (V{"a", " \n \n", "b"}));
  EXPECT_EQ(split(l, "x  y"), (V{"x", " ", " y"}));
  EXPECT_EQ(split(l, "end.\r\n\r\nNext"), (V{"end", ".\r\n\r\n", "Next"}));
  EXPECT_EQ(split(l, "'quoted' ok"), (V{"'quoted", "'", " ok"}));
  EXPECT_EQ(split(l, " 42"), (V{" ", "42"}));
  EXPECT_EQ(split(l, "   "), (V{"   "}));
}

TEST(PretokenizeRegex, LongWhitespaceRunIsLinear) {
  const std::string spaces(200000, ' ');
  EXPECT_EQ(split(SplitPattern::Gpt2, spaces + "x"), (V{spaces.substr(1), " x"}));
  EXPECT_EQ(split(SplitPattern::Llama3, spaces + "x"), (V{spaces.substr(1), " x"}));
}
