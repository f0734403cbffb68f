#include "ob1q/text/calibration.hpp"

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/python_random.hpp"
#include "ob1q/common/sha256.hpp"

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

CalibrationSet load_windows(const std::string& path, int64_t nsamples, int64_t seqlen) {
  std::string raw = read_file(path);
  if (raw.empty()) fail(path, "file is empty");
  CalibrationSet cs;
  cs.source = path;
  cs.source_sha256 = sha256_file(path);
  size_t first = raw.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (raw[first] == '{' || raw[first] == '[')) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(raw);
    } catch (const nlohmann::json::exception& e) {
      fail(path, std::string("invalid JSON: ") + e.what());
    }
    const nlohmann::json& w = j.is_object() ? j.value("windows", nlohmann::json()) : j;
    if (!w.is_array() || w.empty()) fail(path, "expected {\"windows\": [[ids...], ...]} or an array of windows");
    if (j.is_object() && j.contains("seqlen") && seqlen > 0 && j["seqlen"] != seqlen)
      fail(path, "file seqlen " + j["seqlen"].dump() + " differs from --seqlen " + std::to_string(seqlen));
    for (const auto& x : w) {
      if (!x.is_array() || x.empty()) fail(path, "window " + std::to_string(cs.windows.size()) + " is not a list of ids");
      std::vector<int32_t> ids;
      for (const auto& v : x) {
        if (!v.is_number_integer()) fail(path, "window " + std::to_string(cs.windows.size()) + " holds a non-integer id");
        ids.push_back(v.get<int32_t>());
      }
      cs.windows.push_back(std::move(ids));
    }
  } else {
    if (seqlen <= 0) fail(path, "raw int32 windows need --seqlen");
    if (raw.size() % (4 * seqlen) != 0)
      fail(path, std::to_string(raw.size()) + " bytes is not a whole number of int32 windows of " + std::to_string(seqlen));
    const size_t n = raw.size() / (4 * seqlen);
    for (size_t i = 0; i < n; ++i) {
      std::vector<int32_t> ids(seqlen);
      std::memcpy(ids.data(), raw.data() + i * 4 * seqlen, 4 * seqlen);
      cs.windows.push_back(std::move(ids));
    }
  }
  const size_t L = cs.windows[0].size();
  for (size_t i = 0; i < cs.windows.size(); ++i)
    if (cs.windows[i].size() != L) fail(path, "window " + std::to_string(i) + " has " + std::to_string(cs.windows[i].size()) + " ids, window 0 has " + std::to_string(L));
  if (seqlen > 0 && static_cast<int64_t>(L) != seqlen)
    fail(path, "windows have " + std::to_string(L) + " tokens, --seqlen is " + std::to_string(seqlen));
  if (nsamples > 0) {
    if (static_cast<int64_t>(cs.windows.size()) < nsamples)
      fail(path, "holds " + std::to_string(cs.windows.size()) + " windows, --nsamples asks for " + std::to_string(nsamples));
    cs.windows.resize(nsamples);
  }
  cs.windows_sha256 = windows_hash(cs.windows);
  return cs;
}

}  // namespace ob1q::text
