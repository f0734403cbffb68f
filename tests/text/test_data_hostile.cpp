// Evaluation data and task files on hostile input (issue 16): truncated or corrupt gzip, a huge
// single line, invalid UTF-8, empty files, JSON-lines records of the wrong types or nested without
// bound. Each is a clean one-line error naming the file (and line), or reads exactly.
#include <gtest/gtest.h>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/datasets.hpp"
#include "ob1q/text/tasks.hpp"
#include "ob1q/text/unicode.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;

namespace {

std::string write(const std::string& name, const std::string& content) {
  const std::string path = path_join(test::temp_dir("data-hostile"), name);
  write_file_atomic(path, content);
  return path;
}

uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::string le32(uint32_t v) {
  std::string out;
  for (int k = 0; k < 4; ++k) out += static_cast<char>((v >> (8 * k)) & 0xFF);
  return out;
}

// A gzip member holding `s` (< 64 KiB) in one stored deflate block.
std::string gzip_stored(const std::string& s) {
  const uint16_t n = static_cast<uint16_t>(s.size()), nn = static_cast<uint16_t>(~n);
  std::string out("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  out += '\x01';
  out += static_cast<char>(n & 0xFF);
  out += static_cast<char>(n >> 8);
  out += static_cast<char>(nn & 0xFF);
  out += static_cast<char>(nn >> 8);
  return out + s + le32(crc32(s)) + le32(static_cast<uint32_t>(s.size()));
}

const std::string kDocs = "{\"text\": \"one\"}\n{\"text\": \"two\"}\n";

}  // namespace

TEST(DataHostile, GzipIntactTruncatedCorrupt) {
  const std::string gz = gzip_stored(kDocs);
  EXPECT_EQ(text::read_c4_docs(write("c4.jsonl.gz", gz)), (std::vector<std::string>{"one", "two"}));
  for (const std::string& bad : {gz.substr(0, gz.size() / 2), gz.substr(0, 5),
                                 gz.substr(0, gz.size() - 8) + le32(0) + le32(kDocs.size()), gz + "trailing garbage"}) {
    const std::string p = write("c4.jsonl.gz", bad);
    EXPECT_EQ(error_of([&] { text::read_c4_docs(p); }), p + ": corrupt or truncated gzip data");
    EXPECT_EQ(error_of([&] { text::read_wikitext_rows(p); }), p + ": corrupt or truncated gzip data");
    EXPECT_EQ(error_of([&] { text::load_task("lambada_openai", "", p); }), p + ": corrupt or truncated gzip data");
  }
}

TEST(DataHostile, EmptyFiles) {
  for (const std::string& content : {std::string(), gzip_stored("")}) {
    const std::string p = write("empty", content);
    EXPECT_EQ(error_of([&] { text::read_c4_docs(p); }), p + ": file is empty");
    EXPECT_EQ(error_of([&] { text::read_wikitext_rows(p); }), p + ": file is empty");
    EXPECT_EQ(error_of([&] { text::read_lines_stripped(p); }), p + ": file is empty");
    EXPECT_EQ(error_of([&] { text::load_task("piqa", "", p); }), p + ": the file is empty");
  }
  const std::string blank = write("blank.jsonl", "\n  \n");
  EXPECT_EQ(error_of([&] { text::read_c4_docs(blank); }), blank + ": no documents");
}

TEST(DataHostile, HugeSingleLine) {
  const std::string word(20u << 20, 'x');
  const auto rows = text::read_wikitext_rows(write("wiki.raw", word));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].size(), word.size());
  const auto docs = text::read_c4_docs(write("c4.jsonl", "{\"text\": \"" + word + "\"}"));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].size(), word.size());
}

// Raw text keeps its bytes; JSON strings must be UTF-8 (as Python's json module requires), and
// the error message itself stays valid UTF-8 (nlohmann quotes the offending bytes).
TEST(DataHostile, InvalidUtf8) {
  const auto rows = text::read_wikitext_rows(write("wiki.raw", "\xff\xfe ab \xc3\n"));
  EXPECT_EQ(rows, (std::vector<std::string>{"\xff\xfe ab \xc3\n"}));
  const std::string c4 = write("c4.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"ab\xff\"}\n");
  const std::string e1 = error_of([&] { text::read_c4_docs(c4); });
  EXPECT_EQ(
      e1.rfind(c4 + ":2: invalid JSON: [json.exception.parse_error.101] parse error at line 1, column 13: syntax error "
                    "while parsing value - invalid string: ill-formed UTF-8 byte",
               0),
      0u)
      << e1;
  EXPECT_EQ(text::utf8_lossy(e1), e1);
  const std::string task = write("lambada.jsonl", "{\"text\": \"a \xff\"}\n");
  const std::string e2 = error_of([&] { text::load_task("lambada_openai", "", task); });
  EXPECT_EQ(e2.rfind(task + ":1: invalid JSON: [json.exception.parse_error.101]", 0), 0u) << e2;
  EXPECT_EQ(text::utf8_lossy(e2), e2);
}

TEST(DataHostile, JsonLinesOfWrongTypes) {
  std::string p = write("c4.jsonl", "{\"text\": \"a\"}\n{\"text\": 5}\n");
  EXPECT_EQ(error_of([&] { text::read_c4_docs(p); }), p + ": record 2 has no string \"text\" field");
  p = write("c4.jsonl", "[1, 2]\n");
  EXPECT_EQ(error_of([&] { text::read_c4_docs(p); }), p + ": record 1 has no string \"text\" field");
  p = write("lambada.jsonl", "{\"text\": [\"a\"]}\n");
  EXPECT_EQ(error_of([&] { text::load_task("lambada_openai", "", p); }), p + ":1: \"text\" is not a string");
  p = write("piqa.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": {\"b\": 1}, \"label\": 0}\n");
  EXPECT_EQ(error_of([&] { text::load_task("piqa", "", p); }), p + ":1: \"sol2\" is not a string");
  // 2^64 - 1 was read as label -1 ("gold -1 is not one of the 2 choices").
  p = write("piqa.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": 18446744073709551615}\n");
  EXPECT_EQ(error_of([&] { text::load_task("piqa", "", p); }),
            p + ":1: \"label\" is not an integer label (18446744073709551615)");
  p = write("wino.jsonl", "{\"sentence\": \"a _ b\", \"option1\": 1, \"option2\": \"y\", \"answer\": \"1\"}\n");
  EXPECT_EQ(error_of([&] { text::load_task("winogrande", "", p); }), p + ":1: \"option1\" is not a string");
}

// A label of 100,000 nested arrays was dumped into the error message: a stack overflow.
TEST(DataHostile, DeepJsonLines) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  std::string p = write("piqa.jsonl", "{\"goal\": \"g\", \"sol1\": \"a\", \"sol2\": \"b\", \"label\": " + deep + "}\n");
  EXPECT_EQ(error_of([&] { text::load_task("piqa", "", p); }),
            p + ":1: invalid JSON: arrays and objects nested deeper than 256 levels");
  p = write("c4.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\", \"x\": " + deep + "}\n");
  EXPECT_EQ(error_of([&] { text::read_c4_docs(p); }),
            p + ":2: invalid JSON: arrays and objects nested deeper than 256 levels");
  p = write("c4.json", "[" + deep + "]");
  EXPECT_EQ(error_of([&] { text::read_c4_docs(p); }),
            p + ": invalid JSON: arrays and objects nested deeper than 256 levels");
}
