// Bad safetensors files: each must give one ob1q::Error starting with the path and saying what
// is wrong, never a crash or a silently wrong read.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>

#include "io_test_util.hpp"
#include "ob1q/io/safetensors.hpp"
#include "test_support.hpp"

using namespace ob1q::io;
using ob1q::test::make_raw;
using ob1q::test::spit;
using ob1q::test::throws_error;

namespace {

class Corrupt : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ob1q::test::temp_dir("st-corrupt"); }

  // Writes `bytes` to a fresh file and checks that opening it fails with `word` in the message.
  ::testing::AssertionResult rejects(const std::string& bytes, const std::string& word) {
    std::string path = dir_ + "/bad" + std::to_string(n_++) + ".safetensors";
    spit(path, bytes);
    return throws_error([&] { SafetensorsFile::open(path); }, path, word);
  }
  ::testing::AssertionResult rejects_header(const std::string& header, size_t data_bytes, const std::string& word) {
    return rejects(make_raw(header, std::string(data_bytes, '\x01')), word);
  }

  // A valid file with two F32 tensors (a: [2] at [0,8], b: [1] at [8,12]).
  std::string valid() {
    std::string path = dir_ + "/valid.safetensors";
    SafetensorsWriter w;
    float a[2] = {1, 2}, b = 3;
    w.add("a", DType::F32, {2}, a, 8);
    w.add("b", DType::F32, {1}, &b, 4);
    w.set_metadata("format", "pt");
    w.write(path);
    return ob1q::test::slurp(path);
  }

  std::string dir_;
  int n_ = 0;
};

}  // namespace

TEST_F(Corrupt, ValidBaselineOpens) {
  std::string path = dir_ + "/ok.safetensors";
  spit(path, valid());
  EXPECT_EQ(SafetensorsFile::open(path)->tensors().size(), 2u);
  // Hand-written headers accepted too: unpadded, null metadata, extra keys ignored.
  spit(path, make_raw(R"({"__metadata__":null,"x":{"dtype":"U8","shape":[3],"data_offsets":[0,3],"extra":1}})",
                      "abc"));
  auto f = SafetensorsFile::open(path);
  ASSERT_NE(f->find("x"), nullptr);
  EXPECT_EQ(std::memcmp(f->data(*f->find("x")), "abc", 3), 0);
  spit(path, make_raw("{}", ""));
  EXPECT_TRUE(SafetensorsFile::open(path)->tensors().empty());
}

TEST_F(Corrupt, MissingFileAndDirectory) {
  std::string missing = dir_ + "/nope.safetensors";
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(missing); }, missing, "cannot open"));
  EXPECT_TRUE(throws_error([&] { SafetensorsFile::open(dir_); }, dir_, "not a regular file"));
}

TEST_F(Corrupt, TooShort) {
  EXPECT_TRUE(rejects("", "too short"));
  EXPECT_TRUE(rejects("abc", "too short"));
  EXPECT_TRUE(rejects(std::string(7, '\0'), "too short"));
}

TEST_F(Corrupt, HeaderLengthBeyondFile) {
  std::string v = valid();
  std::string body = v.substr(8);
  EXPECT_TRUE(rejects(ob1q::test::u64le(body.size() + 1) + body, "exceeds the file size"));
  EXPECT_TRUE(rejects(ob1q::test::u64le(~uint64_t(0)) + body, "exceeds the file size"));
  // 8 + length wraps around to 0 in 64 bits: must not pass a naive "8 + n <= size" check.
  EXPECT_TRUE(rejects(ob1q::test::u64le(~uint64_t(0) - 7) + body, "exceeds the file size"));
  EXPECT_TRUE(rejects(ob1q::test::u64le(uint64_t(1) << 63) + body, "exceeds the file size"));
}

TEST_F(Corrupt, HeaderNotJsonObject) {
  EXPECT_TRUE(rejects_header("{\"a\": ", 0, "invalid JSON"));
  EXPECT_TRUE(rejects_header("not json", 0, "invalid JSON"));
  EXPECT_TRUE(rejects_header("", 0, "invalid JSON"));
  EXPECT_TRUE(rejects_header("{} trailing", 0, "invalid JSON"));
  EXPECT_TRUE(rejects_header("[1, 2]", 0, "not an object"));
  EXPECT_TRUE(rejects_header("42", 0, "not an object"));
  EXPECT_TRUE(rejects_header(std::string("{\"\xff\": 1}"), 0, "invalid JSON"));  // not UTF-8
  EXPECT_TRUE(rejects_header(std::string(20000, '[') + std::string(20000, ']'), 0, "nested too deeply"));
}

TEST_F(Corrupt, BadEntries) {
  EXPECT_TRUE(rejects_header(R"({"a": 5})", 0, "not an object"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1]}})", 4, "needs dtype, shape and data_offsets"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}})", 4, "unknown dtype 'F99'"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4, "dtype is not a string"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", 4, "shape is not an array"));
}

TEST_F(Corrupt, BadShapes) {
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 8]}})", 8, "negative"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})", 8, "not a non-negative integer"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8, "not a non-negative integer"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})", 8, "not a non-negative integer"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [[2]], "data_offsets": [0, 8]}})", 8, "nested too deeply"));
  // 2^32 * 2^32 elements overflows 64 bits; 2^62 F32 elements overflows the byte count.
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0, "overflow"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})", 0, "overflow"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "U8", "shape": [9223372036854775808], "data_offsets": [0, 0]}})", 0, "too large"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "U8", "shape": [99999999999999999999999], "data_offsets": [0, 0]}})", 0, "not a non-negative integer"));
}

TEST_F(Corrupt, BadOffsets) {
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})", 4, "data_offsets is not [begin, end]"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8, "data_offsets is not [begin, end]"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": "0-4"}})", 4, "data_offsets is not [begin, end]"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 4, "begin 4 > end 0"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4, "negative"));
  // Span disagrees with dtype * shape.
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 4, "need 8"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 8]}})", 8, "need 4"));
}

TEST_F(Corrupt, OverlapsAndHoles) {
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12, "overlap"));
  // Two names for the same bytes is an overlap too.
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                 "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4, "overlap"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                 "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", 12, "hole"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8, "hole"));
}

TEST_F(Corrupt, TruncatedOrTrailingData) {
  std::string v = valid();
  EXPECT_TRUE(rejects(v.substr(0, v.size() - 1), "truncated"));
  EXPECT_TRUE(rejects(v.substr(0, v.size() - 12), "truncated"));
  EXPECT_TRUE(rejects(v + "x", "trailing bytes"));
  EXPECT_TRUE(rejects(v + std::string(4096, '\0'), "trailing bytes"));
}

TEST_F(Corrupt, LyingAboutOffsetsInAValidFile) {
  // Change b's offsets [8,12] to [4,8] in place (same length, so the header stays consistent).
  std::string v = valid();
  size_t at = v.find("[8,12]");
  ASSERT_NE(at, std::string::npos);
  std::string bad = v;
  bad.replace(at, 6, "[4, 8]");
  EXPECT_TRUE(rejects(bad, "overlap"));
  bad = v;
  bad.replace(at, 6, "[8,16]");
  EXPECT_TRUE(rejects(bad, "need 4"));
}

TEST_F(Corrupt, Metadata) {
  EXPECT_TRUE(rejects_header(R"({"__metadata__": {"format": "pt", "n": 1}})", 0, "__metadata__ value for 'n' is not a string"));
  EXPECT_TRUE(rejects_header(R"({"__metadata__": {"x": null}})", 0, "not a string"));
  EXPECT_TRUE(rejects_header(R"({"__metadata__": {"x": {"y": "z"}}})", 0, "not a string"));
  EXPECT_TRUE(rejects_header(R"({"__metadata__": ["pt"]})", 0, "__metadata__ is not an object"));
  EXPECT_TRUE(rejects_header(R"({"__metadata__": "pt"})", 0, "__metadata__ is not an object"));
}

TEST_F(Corrupt, DuplicateNames) {
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                 "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8, "duplicate key 'a'"));
  EXPECT_TRUE(rejects_header(R"({"a": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})", 4, "duplicate key 'dtype'"));
}
