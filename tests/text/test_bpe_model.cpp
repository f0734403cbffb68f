// The BPE merge loop and the pipeline pieces around it, on tiny hand-made vocabularies.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <unordered_map>

#include "ob1q/text/bpe_model.hpp"
#include "ob1q/text/byte_level.hpp"
#include "ob1q/text/hf_tokenizer.hpp"
#include "ob1q/text/tokenizer_sources.hpp"
#include "ob1q/text/unicode.hpp"

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

namespace {

// transformers' generate_merges written out literally: every split of every piece at a character
// boundary whose halves are both pieces (first id of a spelling), sorted as it sorts them.
Merges merges_by_brute_force(const std::vector<std::string>& pieces, const std::vector<float>& scores) {
  std::unordered_map<std::string, size_t> id;
  for (size_t k = 0; k < pieces.size(); ++k) id.emplace(pieces[k], k);
  struct Split {
    size_t left, right, left_chars, right_chars;
    float score;
  };
  std::vector<Split> all;
  for (size_t k = 0; k < pieces.size(); ++k) {
    const std::string& p = pieces[k];
    std::vector<size_t> cuts;  // byte offsets of character boundaries inside the piece
    for (size_t i = 0; i < p.size();) {
      decode_utf8(p, i);
      if (i < p.size()) cuts.push_back(i);
    }
    std::vector<Split> local;
    for (size_t c = 0; c < cuts.size(); ++c) {
      auto l = id.find(p.substr(0, cuts[c])), r = id.find(p.substr(cuts[c]));
      if (l != id.end() && r != id.end()) local.push_back({l->second, r->second, c + 1, cuts.size() - c, scores[k]});
    }
    std::sort(local.begin(), local.end(), [](const Split& a, const Split& b) {
      return a.left != b.left ? a.left < b.left : a.right < b.right;
    });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const Split& a, const Split& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  Merges out;
  for (const Split& s : all) out.emplace_back(pieces[s.left], pieces[s.right]);
  return out;
}

}  // namespace

// Random vocabularies over a few one- to four-byte characters and stray continuation bytes, with
// repeated spellings and tied scores: the same merges, in the same order, as the brute force.
TEST(BpeModel, MergesFromScoresAgreeWithBruteForce) {
  const std::vector<std::string> alphabet = {"a", "b", "\xE2\x96\x81", "\xC3\xA9", "\xF0\x9F\x98\x80", "\x80", "\xE2"};
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> pieces(alphabet);
    std::vector<float> scores(alphabet.size(), 0.0f);
    for (int k = 0; k < 300; ++k) {
      std::string p;
      for (size_t n = 2 + rng() % 5; n > 0; --n) p += alphabet[rng() % alphabet.size()];
      pieces.push_back(p);
      scores.push_back(-static_cast<float>(rng() % 40));
    }
    ASSERT_EQ(merges_from_scores(pieces, scores), merges_by_brute_force(pieces, scores)) << "round " << round;
  }
}

// A 200 KB piece took 8.5 s (every split hashed both halves: quadratic), 1 MB minutes; now about 0.2 s.
TEST(BpeModel, MergesFromScoresOfALongPiece) {
  const std::string longest(200000, 'a');
  std::vector<std::string> pieces = {"a", "aa", longest.substr(1), longest};
  std::vector<float> scores = {0, -1, -2, -3};
  // More pieces than libstdc++'s small-map threshold (20), under which lookups skip hashing.
  for (int k = 0; k < 100; ++k) pieces.push_back("<" + std::to_string(k) + ">"), scores.push_back(0);
  const std::clock_t start = std::clock();  // CPU time: other builds may share the machine
  const Merges merges = merges_from_scores(pieces, scores);
  const double seconds = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  // aa = a+a; the long piece = a + (the piece one shorter), and (that piece) + a.
  const Merges expected = {{"a", "a"}, {longest.substr(1), "a"}, {"a", longest.substr(1)}};
  EXPECT_EQ(merges, expected);
  EXPECT_LT(seconds, 2.0);
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
