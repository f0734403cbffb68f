// The BPE merge loop and the pipeline pieces around it, on tiny hand-made vocabularies.
#include <gtest/gtest.h>

#include "ob1q/text/bpe_model.hpp"
#include "ob1q/text/byte_level.hpp"
#include "ob1q/text/hf_tokenizer.hpp"
#include "ob1q/text/tokenizer_sources.hpp"

using namespace ob1q::text;

namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;
const std::vector<std::string> kTokens = {"a", "b", "c", "ab", "bc", "abc", "<unk>", "<0x78>"};

std::vector<int32_t> encode(const BpeModel& m, std::string_view word) {
  std::vector<int32_t> out;
  BpeScratch scratch;
  m.encode_word(word, out, scratch);
  return out;
}

// 256 byte tokens (id = byte) and no merges, plus "<mask>" = 256.
BpeModel bytes_model() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(to_byte_level(std::string(1, static_cast<char>(b))));
  tokens.push_back("<mask>");
  BpeOptions o;
  o.byte_level = true;
  return BpeModel(tokens, {}, o, "test");
}

}  // namespace

TEST(BpeModel, LowestRankMergesFirst) {
  EXPECT_EQ(encode(BpeModel(kTokens, Merges{{"a", "b"}, {"ab", "c"}}, {}, "t"), "abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(encode(BpeModel(kTokens, Merges{{"b", "c"}, {"a", "b"}}, {}, "t"), "abc"), (std::vector<int32_t>{0, 4}));
  // ties between equal pairs go to the leftmost
  EXPECT_EQ(encode(BpeModel(kTokens, Merges{{"a", "b"}}, {}, "t"), "ababa"), (std::vector<int32_t>{3, 3, 0}));
}

TEST(BpeModel, UnknownCharacters) {
  BpeOptions o;
  o.unk_token = "<unk>";
  EXPECT_EQ(encode(BpeModel(kTokens, {}, o, "t"), "zza"), (std::vector<int32_t>{6, 6, 0}));
  o.fuse_unk = true;
  EXPECT_EQ(encode(BpeModel(kTokens, {}, o, "t"), "zza"), (std::vector<int32_t>{6, 0}));
  o.byte_fallback = true;  // 'x' has a byte token, 'z' does not
  EXPECT_EQ(encode(BpeModel(kTokens, {}, o, "t"), "xaz"), (std::vector<int32_t>{7, 0, 6}));
  BpeOptions none;  // without an unk token, unknown characters vanish (as in HF)
  EXPECT_EQ(encode(BpeModel(kTokens, {}, none, "t"), "zaz"), (std::vector<int32_t>{0}));
}

TEST(BpeModel, IgnoreMergesTakesWholeWords) {
  BpeOptions o;
  o.ignore_merges = true;
  EXPECT_EQ(encode(BpeModel(kTokens, {}, o, "t"), "abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(encode(BpeModel(kTokens, {}, o, "t"), "cab"), (std::vector<int32_t>{2, 0, 1}));
}

TEST(BpeModel, MergeOfUnknownTokenIsAnError) {
  EXPECT_THROW(BpeModel(kTokens, Merges{{"c", "a"}}, {}, "t"), std::exception);
}

TEST(BpeModel, MergesFromSentencePieceScores) {
  // transformers' generate_merges: splits of every piece into two pieces, by the piece's score
  // (higher first), then longer left part first.
  const std::vector<std::string> pieces = {"a", "b", "c", "ab", "bc", "abc"};
  const std::vector<float> scores = {0, 0, 0, -2, -1, -3};
  const Merges expected = {{"b", "c"}, {"a", "b"}, {"ab", "c"}, {"a", "bc"}};
  EXPECT_EQ(merges_from_scores(pieces, scores), expected);
}

TEST(HfTokenizer, AddedTokenStripFlags) {
  const auto run = [](AddedToken mask, const std::string& text) {
    HfPipeline p;
    p.pre_tokenizers.push_back(PreTokenizerStep(PreTokenizerStep::ByteLevel));
    mask.content = "<mask>";
    mask.id = 256;
    p.added_tokens = {mask};
    return HfTokenizer(bytes_model(), p, "t").encode(text, false);
  };
  using V = std::vector<int32_t>;
  AddedToken plain, lstrip, rstrip, word;
  lstrip.lstrip = true;
  rstrip.rstrip = true;
  word.single_word = true;
  EXPECT_EQ(run(plain, "a <mask> b"), (V{'a', ' ', 256, ' ', 'b'}));
  EXPECT_EQ(run(lstrip, "a  <mask> b"), (V{'a', 256, ' ', 'b'}));
  EXPECT_EQ(run(rstrip, "a <mask>  b"), (V{'a', ' ', 256, 'b'}));
  EXPECT_EQ(run(word, "x<mask> y"), (V{'x', '<', 'm', 'a', 's', 'k', '>', ' ', 'y'}));
  EXPECT_EQ(run(word, "x <mask> y"), (V{'x', ' ', 256, ' ', 'y'}));
  EXPECT_EQ(run(plain, "<mask><mask>"), (V{256, 256}));
}

TEST(HfTokenizer, PostProcessorAndDecoder) {
  HfPipeline p;
  p.pre_tokenizers.push_back(PreTokenizerStep(PreTokenizerStep::ByteLevel));
  p.decoders.push_back(DecoderStep(DecoderStep::ByteLevel));
  p.prefix = {256};
  p.suffix = {256, 256};
  p.added_tokens = {AddedToken{"<mask>", 256}};
  HfTokenizer tok(bytes_model(), p, "t");
  EXPECT_EQ(tok.encode("hi", true), (std::vector<int32_t>{256, 'h', 'i', 256, 256}));
  EXPECT_EQ(tok.encode("", true), (std::vector<int32_t>{256, 256, 256}));
  EXPECT_EQ(tok.decode({256, 'h', 0xC3, 0xA9, 0xC3}), "<mask>h\xC3\xA9\xEF\xBF\xBD");
  EXPECT_EQ(tok.vocab_size(), 257);
}
