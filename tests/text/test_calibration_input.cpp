// --calib-file (text::load_windows) on hostile input, and text::check_token_ids: each bad file is
// one error line naming the file (and window / position); good files give the exact ids.
#include <gtest/gtest.h>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/calibration.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;

namespace {

std::string write(const std::string& name, const std::string& content) {
  const std::string path = path_join(test::temp_dir("calib-input"), name);
  write_file_atomic(path, content);
  return path;
}

// The error of load_windows on a file `name` holding `content` ("" when it loads), with the
// file's directory cut out of it.
std::string load_error(const std::string& name, const std::string& content, int64_t nsamples, int64_t seqlen) {
  const std::string path = write(name, content);
  try {
    text::load_windows(path, nsamples, seqlen);
  } catch (const Error& e) {
    std::string what = e.what();
    const std::string dir = path.substr(0, path.size() - name.size());
    if (what.rfind(dir, 0) == 0) what.erase(0, dir.size());
    return what;
  }
  return "";
}

std::string int32s(const std::vector<int32_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int32_t));
}

}  // namespace

TEST(CalibrationInput, JsonIdsMustBeTokenIds) {
  struct Case {
    const char *id, *shown;
  };
  // 2^32 + 5 read as int32 was silently 5; -5 and 2^64 - 1 (read as -1) reached the embedding.
  for (const Case& c : {Case{"4294967301", "4294967301"}, Case{"-5", "-5"},
                        Case{"18446744073709551615", "18446744073709551615"}, Case{"2147483648", "2147483648"},
                        Case{"2.0", "2.0"}, Case{"1e3", "1000.0"}, Case{"true", "true"}, Case{"\"7\"", "\"7\""}}) {
    const std::string e =
        load_error("w.json", std::string(R"({"seqlen": 2, "windows": [[1, 2], [3, )") + c.id + "]]}", 2, 2);
    EXPECT_EQ(
        e, std::string("w.json: window 1, position 1: id is ") + c.shown + ", expected an integer in [0, 2147483647]")
        << c.id;
  }
}

TEST(CalibrationInput, JsonShape) {
  EXPECT_EQ(load_error("w.json", R"({"seqlen": 2, "windows": [[1, 2], [3]]})", 2, 2),
            "w.json: window 1 has 1 ids, window 0 has 2");
  EXPECT_EQ(load_error("w.json", R"({"seqlen": 3, "windows": [[1, 2], [3, 4]]})", 2, 2),
            "w.json: file seqlen 3 differs from --seqlen 2");
  // Without --seqlen the file's own seqlen must still match its windows.
  EXPECT_EQ(load_error("w.json", R"({"seqlen": 3, "windows": [[1, 2], [3, 4]]})", 2, 0),
            "w.json: windows have 2 tokens, the file's seqlen is 3");
  EXPECT_EQ(load_error("w.json", R"({"seqlen": "x", "windows": [[1, 2]]})", 1, 2),
            "w.json: seqlen is \"x\", expected an integer in [1, 2147483647]");
  EXPECT_EQ(load_error("w.json", R"({"windows": []})", 1, 2),
            "w.json: expected {\"windows\": [[ids...], ...]} or an array of windows");
  EXPECT_EQ(load_error("w.json", R"([1, 2])", 1, 2), "w.json: window 0 is not a list of ids");
  EXPECT_EQ(load_error("w.json", R"([[1, 2], [3, 4]])", 3, 2), "w.json: holds 2 windows, --nsamples asks for 3");
  const std::string e = load_error("w.json", R"({"seqlen": 2, "windows": [[1, 2])", 1, 2);
  EXPECT_EQ(e.rfind("w.json: invalid JSON: [json.exception.parse_error.101]", 0), 0u) << e;
  EXPECT_EQ(load_error("w.json", "[" + std::string(100000, '[') + std::string(100000, ']') + "]", 1, 2),
            "w.json: invalid JSON: arrays and objects nested deeper than 256 levels");
  EXPECT_EQ(load_error("w.json", "", 1, 2), "w.json: file is empty");
}

TEST(CalibrationInput, RawInt32) {
  EXPECT_EQ(load_error("w.bin", int32s({1, 2, 3, 4}) + "x", 1, 2),
            "w.bin: 17 bytes is not a whole number of int32 ids");
  EXPECT_EQ(load_error("w.bin", int32s({1, 2, 3}), 1, 2), "w.bin: 3 ids is not a whole number of windows of 2");
  EXPECT_EQ(load_error("w.bin", int32s({1, 2, 3, -1}), 2, 2),
            "w.bin: window 1, position 1: id is -1, expected an integer in [0, 2147483647]");
  EXPECT_EQ(load_error("w.bin", int32s({1, 2, 3, 4}), 1, 0), "w.bin: raw int32 windows need --seqlen");
  // 4 * seqlen overflowed (a division by zero for 2^62).
  EXPECT_EQ(load_error("w.bin", int32s({1, 2, 3, 4}), 1, int64_t{1} << 62),
            "--seqlen: 4611686018427387904 is out of range (at most 2147483647)");
  EXPECT_EQ(load_error("w.bin", int32s({1, 2, 3, 4}), 3, 2), "w.bin: holds 2 windows, --nsamples asks for 3");
  const auto cs = text::load_windows(write("w.bin", int32s({1, 2, 3, 2147483647})), 1, 2);
  ASSERT_EQ(cs.windows.size(), 1u);
  EXPECT_EQ(cs.windows[0], (std::vector<int32_t>{1, 2}));
}

TEST(CalibrationInput, GoodFilesGiveTheirIds) {
  const auto cs =
      text::load_windows(write("w.json", R"({"seqlen": 3, "windows": [[0, 5, 2147483647], [7, 8, 9]]})"), 2, 0);
  ASSERT_EQ(cs.windows.size(), 2u);
  EXPECT_EQ(cs.windows[0], (std::vector<int32_t>{0, 5, 2147483647}));
  EXPECT_EQ(cs.windows[1], (std::vector<int32_t>{7, 8, 9}));
}

TEST(CalibrationInput, CheckTokenIds) {
  const std::vector<std::vector<int32_t>> windows = {{0, 1, 2}, {3, 49999, 4}};
  text::check_token_ids(windows, 50000, "c.json");
  EXPECT_EQ(error_of([&] { text::check_token_ids(windows, 32000, "c.json"); }),
            "c.json: window 1, position 1: token id 49999 is outside the model's vocabulary (vocab_size 32000)");
  EXPECT_EQ(error_of([&] {
              text::check_token_ids(std::vector<int32_t>{5, -2}, 10, "stream");
            }),
            "stream: position 1: token id -2 is outside the model's vocabulary (vocab_size 10)");
  text::check_token_ids(std::vector<int32_t>{0, 9}, 10, "stream");
}
