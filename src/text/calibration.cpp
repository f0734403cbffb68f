#include "ob1q/text/calibration.hpp"

#include <cstring>
#include <map>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/python_random.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/text/json_input.hpp"

namespace ob1q::text {

namespace {

std::string windows_hash(const std::vector<std::vector<int32_t>>& w) {
  Sha256 h;
  for (const auto& x : w) h.update(x.data(), x.size() * sizeof(int32_t));
  return h.hex();
}

}  // namespace

CalibrationSet sample_windows(const std::vector<std::string>& docs, const Tokenizer& tok, int64_t nsamples,
                              int64_t seqlen, uint64_t seed) {
  if (docs.empty()) fail("calibration", "no documents");
  PythonRandom rng(seed);
  std::map<int64_t, std::vector<int32_t>> cache;  // a document is tokenized once however often it is drawn
  auto ids_of = [&](int64_t i) -> const std::vector<int32_t>& {
    auto it = cache.find(i);
    if (it == cache.end()) it = cache.emplace(i, tok.encode(docs[i], true, tok.parses_special_in_corpora())).first;
    return it->second;
  };
  CalibrationSet cs;
  const int64_t max_rejects = 100 * static_cast<int64_t>(docs.size()) + 10000;
  for (int64_t s = 0; s < nsamples; ++s) {
    int64_t i = 0, rejects = 0;
    while (true) {
      i = rng.randint(0, static_cast<int64_t>(docs.size()) - 1);
      if (static_cast<int64_t>(ids_of(i).size()) > seqlen) break;  // strict, as BiLLM/ARB (GPTQ: >=)
      if (++rejects > max_rejects)
        fail("calibration", "no document has more than " + std::to_string(seqlen) + " tokens");
    }
    const auto& ids = ids_of(i);
    int64_t o = rng.randint(0, static_cast<int64_t>(ids.size()) - seqlen - 1);
    cs.windows.emplace_back(ids.begin() + o, ids.begin() + o + seqlen);
    cs.draws.push_back({i, o, static_cast<int64_t>(ids.size())});
  }
  cs.windows_sha256 = windows_hash(cs.windows);
  return cs;
}

namespace {

std::string position(size_t window, size_t k) {
  return "window " + std::to_string(window) + ", position " + std::to_string(k);
}

// {"seqlen": L, "windows": [[id, ...], ...]} or a bare array of windows; the file's seqlen (0
// when it states none) goes to *file_seqlen.
std::vector<std::vector<int32_t>> json_windows(const std::string& raw, const std::string& path, int64_t seqlen,
                                               int64_t* file_seqlen) {
  const nlohmann::json j = parse_json(raw, path);
  const nlohmann::json* w = &j;
  if (j.is_object()) {
    auto it = j.find("windows");
    w = it == j.end() ? nullptr : &*it;
    if (j.contains("seqlen"))
      *file_seqlen = json_int(j["seqlen"], 1, kMaxTokenIdValue, path, [] { return std::string("seqlen"); });
  }
  if (!w || !w->is_array() || w->empty()) fail(path, "expected {\"windows\": [[ids...], ...]} or an array of windows");
  if (*file_seqlen > 0 && seqlen > 0 && *file_seqlen != seqlen)
    fail(path, "file seqlen " + std::to_string(*file_seqlen) + " differs from --seqlen " + std::to_string(seqlen));
  std::vector<std::vector<int32_t>> windows;
  for (const auto& x : *w) {
    const size_t i = windows.size();
    if (!x.is_array() || x.empty()) fail(path, "window " + std::to_string(i) + " is not a list of ids");
    std::vector<int32_t> ids;
    ids.reserve(x.size());
    for (const auto& v : x) ids.push_back(json_token_id(v, path, [&] { return position(i, ids.size()) + ": id"; }));
    windows.push_back(std::move(ids));
  }
  return windows;
}

// nsamples x seqlen little-endian int32 ids back to back.
std::vector<std::vector<int32_t>> raw_windows(const std::string& raw, const std::string& path, int64_t seqlen) {
  if (seqlen <= 0) fail(path, "raw int32 windows need --seqlen");
  if (raw.size() % sizeof(int32_t) != 0)
    fail(path, std::to_string(raw.size()) + " bytes is not a whole number of int32 ids");
  const size_t count = raw.size() / sizeof(int32_t), len = static_cast<size_t>(seqlen);
  if (count % len != 0)
    fail(path, std::to_string(count) + " ids is not a whole number of windows of " + std::to_string(seqlen));
  std::vector<std::vector<int32_t>> windows(count / len, std::vector<int32_t>(len));
  for (size_t i = 0; i < windows.size(); ++i) {
    std::memcpy(windows[i].data(), raw.data() + i * len * sizeof(int32_t), len * sizeof(int32_t));
    for (size_t k = 0; k < len; ++k) {
      if (windows[i][k] < 0) fail_json_int(windows[i][k], 0, kMaxTokenIdValue, path, position(i, k) + ": id");
    }
  }
  return windows;
}

}  // namespace

CalibrationSet load_windows(const std::string& path, int64_t nsamples, int64_t seqlen) {
  // Ids are int32 and so are positions: a longer window cannot be fed to a model.
  if (seqlen > kMaxTokenIdValue)
    fail("--seqlen", std::to_string(seqlen) + " is out of range (at most " + std::to_string(kMaxTokenIdValue) + ")");
  std::string raw = read_file(path);
  if (raw.empty()) fail(path, "file is empty");
  CalibrationSet cs;
  cs.source = path;
  cs.source_sha256 = sha256_file(path);
  const size_t first = raw.find_first_not_of(" \t\r\n");
  int64_t file_seqlen = 0;
  if (first != std::string::npos && (raw[first] == '{' || raw[first] == '[')) {
    cs.windows = json_windows(raw, path, seqlen, &file_seqlen);
  } else {
    cs.windows = raw_windows(raw, path, seqlen);
  }
  const size_t L = cs.windows[0].size();
  for (size_t i = 0; i < cs.windows.size(); ++i) {
    if (cs.windows[i].size() != L)
      fail(path, "window " + std::to_string(i) + " has " + std::to_string(cs.windows[i].size()) +
                     " ids, window 0 has " + std::to_string(L));
  }
  if (seqlen > 0 && static_cast<int64_t>(L) != seqlen)
    fail(path, "windows have " + std::to_string(L) + " tokens, --seqlen is " + std::to_string(seqlen));
  if (file_seqlen > 0 && static_cast<int64_t>(L) != file_seqlen)
    fail(path, "windows have " + std::to_string(L) + " tokens, the file's seqlen is " + std::to_string(file_seqlen));
  if (nsamples > 0) {
    if (static_cast<int64_t>(cs.windows.size()) < nsamples)
      fail(path, "holds " + std::to_string(cs.windows.size()) + " windows, --nsamples asks for " + std::to_string(nsamples));
    cs.windows.resize(nsamples);
  }
  cs.windows_sha256 = windows_hash(cs.windows);
  return cs;
}

}  // namespace ob1q::text
