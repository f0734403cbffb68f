// The evaluation texts: known first ids of WikiText-2 (llama-s) and C4 (opt-s), and encode speed
// on the whole WikiText-2 test file (printed, not asserted).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "ob1q/common/file.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

// HF datasets' wikitext rows: one per line of the raw file, keeping its "\n", except that
// whitespace-only lines become "".
std::vector<std::string> wikitext_rows(const std::string& raw, size_t max_rows) {
  std::vector<std::string> rows;
  size_t pos = 0;
  while (pos < raw.size() && rows.size() < max_rows) {
    size_t end = raw.find('\n', pos);
    end = end == std::string::npos ? raw.size() : end + 1;
    std::string line = raw.substr(pos, end - pos);
    pos = end;
    rows.push_back(line.find_first_not_of(" \n") == std::string::npos ? "" : line);
  }
  return rows;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t k = 0; k < parts.size(); ++k) out += (k ? sep : "") + parts[k];
  return out;
}

std::vector<int32_t> head(const std::vector<int32_t>& ids, size_t n) {
  return std::vector<int32_t>(ids.begin(), ids.begin() + std::min(n, ids.size()));
}

std::vector<std::string> c4_docs(const std::string& file) {
  const std::string lines = read_file(path_join(test::shared(), "data/c4/" + file));
  std::vector<std::string> docs;
  size_t pos = 0;
  while (pos < lines.size()) {
    size_t end = lines.find('\n', pos);
    if (end == std::string::npos) end = lines.size();
    if (end > pos) docs.push_back(nlohmann::json::parse(lines.substr(pos, end - pos)).at("text").get<std::string>());
    pos = end + 1;
  }
  return docs;
}

std::string c4_validation_text() { return join(c4_docs("c4-validation.00000-of-00008.head1025.jsonl.gz"), " "); }

double seconds_to_encode(const text::Tokenizer& tok, const std::string& text, size_t* n_ids) {
  const auto t0 = std::chrono::steady_clock::now();
  *n_ids = tok.encode(text, true).size();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(TokenizerDatasets, WikiTextStartWithLlamaS) {
  OB1Q_REQUIRE_SHARED();
  const std::string raw = read_file(path_join(test::shared(), "data/wikitext2/raw/wiki.test.raw"));
  const std::string text = join(wikitext_rows(raw, 20), "\n\n");
  const auto tok = text::load_tokenizer(path_join(test::shared(), "models/llama-s"));
  const std::vector<int32_t> expected = {1, 3798, 13, 13, 755, 3641, 2876, 415, 1883, 358, 755, 3798, 13, 13, 13, 13};
  EXPECT_EQ(head(tok->encode(text, true), expected.size()), expected);
}

TEST(TokenizerDatasets, C4StartWithOptS) {
  OB1Q_REQUIRE_SHARED();
  const auto tok = text::load_tokenizer(path_join(test::shared(), "models/opt-s"));
  const std::vector<int32_t> expected = {2, 515, 2024, 503, 297, 693, 893, 1948, 284, 424, 262, 854, 3130, 717, 267, 347};
  EXPECT_EQ(head(tok->encode(c4_validation_text(), true), expected.size()), expected);
}

// tests/fixtures/calib_windows.json holds HF's calibration draws on C4 train documents: for each
// window the document, the offset and the document's token count (with BOS), and a sha256 of all
// 128 x 2048 window ids. Long real documents, checked id for id.
TEST(TokenizerDatasets, C4CalibrationWindowsMatchHF) {
  OB1Q_REQUIRE_SHARED();
  const auto fixture = nlohmann::json::parse(read_file(path_join(test::fixtures(), "calib_windows.json")));
  const std::vector<std::string> docs = c4_docs("c4-train.00000-of-01024.head1041.jsonl.gz");
  for (const char* name : {"llama-s", "opt-s"}) {
    const auto tok = text::load_tokenizer(path_join(test::shared(), std::string("models/") + name));
    const auto& f = fixture.at(name);
    const int64_t seqlen = f.at("seqlen").get<int64_t>();
    Sha256 hash;
    for (const auto& w : f.at("windows")) {
      const auto doc = w.at(0).get<size_t>();
      const auto offset = w.at(1).get<int64_t>();
      const auto ids = tok->encode(docs.at(doc), true);
      ASSERT_EQ(static_cast<int64_t>(ids.size()), w.at(2).get<int64_t>()) << name << " document " << doc;
      hash.update(ids.data() + offset, seqlen * sizeof(int32_t));
    }
    EXPECT_EQ(hash.hex(), f.at("sha256").get<std::string>()) << name;
  }
}

// Not an assertion: prints MB/s of encoding the 1.3 MB WikiText-2 test file (and C4's 2.2 MB).
TEST(TokenizerDatasets, EncodeSpeed) {
  OB1Q_REQUIRE_SHARED();
  const std::string wiki = read_file(path_join(test::shared(), "data/wikitext2/raw/wiki.test.raw"));
  const std::string c4 = c4_validation_text();
  for (const char* dir : {"models/opt-s", "models/llama-s", "data/tokenizers/llama3", "data/tokenizers/gpt2"}) {
    const auto tok = text::load_tokenizer(path_join(test::shared(), dir));
    for (const auto* t : {&wiki, &c4}) {
      size_t n = 0;
      const double s = seconds_to_encode(*tok, *t, &n);
      std::printf("[ speed   ] %-24s %-5s %.2f MB -> %zu ids in %.3f s = %.1f MB/s\n", dir, t == &wiki ? "wiki" : "c4",
                  t->size() / 1e6, n, s, t->size() / 1e6 / s);
    }
  }
}

}  // namespace
