// Helpers for the io tests. The "raw" reader here deliberately does not use ob1q::io: it is
// the independent reference the tests compare SafetensorsFile against.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "ob1q/common/error.hpp"

namespace ob1q::test {

inline std::string slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) ADD_FAILURE() << "cannot open " << path;
  if (!f) return "";
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  std::fclose(f);
}

inline std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

// A safetensors file from raw header text and data bytes (no validation: for corrupt inputs).
inline std::string make_raw(const std::string& header, const std::string& data) {
  return u64le(header.size()) + header + data;
}

// The file split by hand: header length, header JSON (key order kept), data section bytes.
struct RawSafetensors {
  uint64_t header_len = 0;
  std::string header_text;
  nlohmann::ordered_json header;
  std::string data;
  std::string bytes_of(const std::string& name) const {
    const auto& off = header.at(name).at("data_offsets");
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    return data.substr(b, e - b);
  }
};

inline RawSafetensors read_raw(const std::string& path) {
  RawSafetensors r;
  std::string all = slurp(path);
  if (all.size() < 8) {
    ADD_FAILURE() << path << " too short";
    return r;
  }
  for (int i = 7; i >= 0; --i) r.header_len = (r.header_len << 8) | static_cast<unsigned char>(all[i]);
  r.header_text = all.substr(8, r.header_len);
  r.header = nlohmann::ordered_json::parse(r.header_text);
  r.data = all.substr(8 + r.header_len);
  return r;
}

// Succeeds when `fn` throws ob1q::Error whose message starts with "<path>: " and contains `word`.
inline ::testing::AssertionResult throws_error(const std::function<void()>& fn, const std::string& path,
                                               const std::string& word) {
  try {
    fn();
  } catch (const ob1q::Error& e) {
    std::string msg = e.what();
    if (msg.rfind(path + ": ", 0) != 0)
      return ::testing::AssertionFailure() << "message does not start with '" << path << ": ': " << msg;
    if (msg.find(word) == std::string::npos)
      return ::testing::AssertionFailure() << "message lacks '" << word << "': " << msg;
    if (msg.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "multi-line message: " << msg;
    return ::testing::AssertionSuccess() << msg;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-ob1q::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "no exception";
}

}  // namespace ob1q::test
