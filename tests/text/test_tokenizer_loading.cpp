// load_tokenizer: file choice, tokenizer_config handling, errors, special ids, thread safety.
#include <gtest/gtest.h>

#include <sentencepiece_processor.h>

#include <thread>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

std::string shared_dir(const char* rel) { return path_join(test::shared(), rel); }

void expect_error_naming(const std::string& dir, const std::string& needle) {
  try {
    text::load_tokenizer(dir);
    FAIL() << "no error for " << dir;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(TokenizerLoading, NothingThere) {
  const std::string dir = test::temp_dir("tok-empty");
  try {
    text::load_tokenizer(dir);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              dir + ": no tokenizer found (expected tokenizer.model, tokenizer.json or encoder.json + vocab.bpe)");
  }
}

TEST(TokenizerLoading, CorruptFilesAreNamed) {
  std::string dir = test::temp_dir("tok-bad-json");
  write_file_atomic(path_join(dir, "tokenizer.json"), std::string("{\"model\": [1, 2"));
  expect_error_naming(dir, path_join(dir, "tokenizer.json"));

  dir = test::temp_dir("tok-wordpiece");
  write_file_atomic(path_join(dir, "tokenizer.json"), std::string(R"({"model": {"type": "WordPiece", "vocab": {}}})"));
  expect_error_naming(dir, "unsupported model type WordPiece");

  dir = test::temp_dir("tok-bad-model");
  write_file_atomic(path_join(dir, "tokenizer.model"), std::string("\x0a\x05garbage-not-a-model", 20));
  expect_error_naming(dir, path_join(dir, "tokenizer.model"));

  dir = test::temp_dir("tok-bad-config");
  write_file_atomic(path_join(dir, "tokenizer_config.json"), std::string("{oops"));
  expect_error_naming(dir, path_join(dir, "tokenizer_config.json"));
}

TEST(TokenizerLoading, SpecialIdsAndSizes) {
  OB1Q_REQUIRE_SHARED();
  struct Expect {
    const char* dir;
    const char* kind;
    int32_t bos, eos;
    int64_t vocab;
  };
  for (const Expect& e : {Expect{"models/llama-s", "sentencepiece", 1, 2, 4096},
                          Expect{"models/opt-s", "bpe", 2, 2, 4096},
                          Expect{"data/tokenizers/llama2", "sentencepiece", 1, 2, 32000},
                          Expect{"data/tokenizers/llama3", "bpe", 128000, 128001, 128256},
                          Expect{"data/tokenizers/gpt2", "bpe", 50256, 50256, 50257}}) {
    const auto tok = text::load_tokenizer(shared_dir(e.dir));
    EXPECT_EQ(tok->kind(), e.kind) << e.dir;
    EXPECT_EQ(tok->bos_id(), e.bos) << e.dir;
    EXPECT_EQ(tok->eos_id(), e.eos) << e.dir;
    EXPECT_EQ(tok->vocab_size(), e.vocab) << e.dir;
  }
  // GPT-2's <|endoftext|> is cut out of the text like every HF GPT-2 tokenizer does.
  const auto gpt2 = text::load_tokenizer(shared_dir("data/tokenizers/gpt2"));
  EXPECT_EQ(gpt2->encode("a<|endoftext|>b"), (std::vector<int32_t>{64, 50256, 65}));
}

// With legacy=false only the start of the text gets the "▁" prefix; legacy=true (llama2) also
// prefixes every section after a special token.
TEST(TokenizerLoading, LegacyPrefixAfterSpecialTokens) {
  OB1Q_REQUIRE_SHARED();
  const auto llama_s = text::load_tokenizer(shared_dir("models/llama-s"));
  const auto llama2 = text::load_tokenizer(shared_dir("data/tokenizers/llama2"));
  const auto s = llama_s->encode("</s>Hello", false), l = llama2->encode("</s>Hello", false);
  ASSERT_EQ(s.size(), 4u);  // </s> H ell o
  EXPECT_EQ(s[0], 2);
  EXPECT_EQ(l, (std::vector<int32_t>{2, 22557}));  // </s> ▁Hello
}

// The HF conversion of a SentencePiece BPE model (merges from scores + Metaspace) and the
// SentencePiece library agree wherever both put a "▁" in front of the text.
TEST(TokenizerLoading, SentencePieceConversionAgreesWithLibrary) {
  OB1Q_REQUIRE_SHARED();
  const std::string dir = shared_dir("models/llama-s");
  const std::string text = "x" + read_file(shared_dir("data/wikitext2/raw/wiki.test.raw"));
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load(path_join(dir, "tokenizer.model")).ok());
  std::vector<int> expected;
  ASSERT_TRUE(sp.Encode(text, &expected).ok());
  const auto ids = text::load_tokenizer(dir)->encode(text, false);
  ASSERT_EQ(ids.size(), expected.size());
  EXPECT_TRUE(std::equal(ids.begin(), ids.end(), expected.begin()));
}

TEST(TokenizerLoading, LongRunsAndThreads) {
  OB1Q_REQUIRE_SHARED();
  const auto tok = text::load_tokenizer(shared_dir("models/opt-s"));
  const std::string spaces = "a" + std::string(100000, ' ') + "b" + std::string(100000, '\n');
  EXPECT_EQ(tok->decode(tok->encode(spaces, false)), spaces);
  const std::string text = read_file(shared_dir("data/wikitext2/raw/wiki.test.raw")).substr(0, 200000);
  const auto expected = tok->encode(text);
  std::vector<std::vector<int32_t>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&] { g = tok->encode(text); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, expected);
}
