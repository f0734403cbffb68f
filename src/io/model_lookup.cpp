#include "ob1q/io/model_lookup.hpp"

#include <cctype>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "ob1q/common/error.hpp"
#include "ob1q/common/paths.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/log.hpp"

namespace ob1q::io {

namespace {


std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// huggingface_hub expands a leading ~ in its environment variables.
std::string expand_home(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) return env("HOME") + p.substr(1);
  return p;
}

bool id_part(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

// One place looked at and why it did not hold the model.
struct Miss {
  std::string place, why;
};

std::string trim(std::string s) {
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  while (!s.empty() && !not_space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && !not_space(s[i])) ++i;
  return s.substr(i);
}

// A snapshot the cache points at must be whole: every file a link to a blob that exists.
void check_snapshot(const std::string& spec, const std::string& snap) {
  std::vector<std::string> dirs = {snap};
  for (size_t d = 0; d < dirs.size() && d < 10000; ++d)
    for (const auto& name : list_directory(dirs[d])) {
      const std::string p = path_join(dirs[d], name);
      const PathKind k = lstat_kind(p);
      if (k == PathKind::directory) dirs.push_back(p);
      if (k == PathKind::symlink && stat_kind(p) == PathKind::missing)
        fail(p, "is a broken link in the Hugging Face cache snapshot of " + spec +
                    " (its blob is missing: an interrupted download or a pruned cache); download it again with "
                    "`huggingface-cli download " + spec + "`");
    }
  if (!file_exists(path_join(snap, "config.json")))
    fail(snap, "the Hugging Face cache snapshot of " + spec + " has no config.json; download the whole model with "
                   "`huggingface-cli download " + spec + "`");
}

// ORG/NAME in the hub cache: the snapshot refs/main names, or "" with the reason in `miss`.
std::string from_hub(const std::string& spec, const std::string& org, const std::string& name, Miss& miss) {
  const std::string hub = hf_hub_cache();
  const std::string repo = path_join(hub, "models--" + org + "--" + name);
  miss.place = repo;
  auto missed = [&](const std::string& why) {
    miss.why = why;
    return std::string();
  };
  if (hub.empty()) return missed("no cache directory: HOME is not set");
  if (!dir_exists(repo)) return missed("not in the cache");
  const std::string ref = path_join(repo, "refs/main");
  if (!file_exists(ref)) return missed("no refs/main: the cache holds no download of the main revision");
  const std::string commit = trim(read_file(ref));
  if (!id_part(commit)) return missed("refs/main does not name a commit");
  const std::string snap = path_join(repo, "snapshots/" + commit);
  if (!dir_exists(snap)) return missed("refs/main names commit " + commit + " but snapshots/" + commit + " is missing");
  check_snapshot(spec, snap);
  return snap;
}

}  // namespace

std::string hf_hub_cache() {
  if (auto v = env("HF_HUB_CACHE"); !v.empty()) return expand_home(v);
  if (auto v = env("HF_HOME"); !v.empty()) return path_join(expand_home(v), "hub");
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return path_join(expand_home(v), "huggingface/hub");
  if (auto v = env("HOME"); !v.empty()) return path_join(v, ".cache/huggingface/hub");
  return "";
}

std::string resolve_model(const std::string& spec) {
  if (spec.empty() || lstat_kind(spec) != PathKind::missing) return spec;
  const size_t slash = spec.find('/');
  const bool plain = slash == std::string::npos;
  const std::string org = plain ? "" : spec.substr(0, slash), name = plain ? spec : spec.substr(slash + 1);
  if (!id_part(name) || (!plain && !id_part(org))) return spec;  // a path, not a model id: the reader reports it

  std::vector<Miss> misses{{spec, "no such directory"}};
  std::string found;
  if (plain) {
    const std::string root = env("OB1Q_MODELS");
    Miss m{"$OB1Q_MODELS/" + name, "OB1Q_MODELS is not set"};
    if (!root.empty()) {
      m.place = path_join(expand_home(root), name);
      if (dir_exists(m.place)) found = m.place;
      else m.why = "no such directory";
    }
    misses.push_back(m);
  } else {
    Miss m;
    found = from_hub(spec, org, name, m);
    misses.push_back(m);
  }
  if (!found.empty()) {
    OB1Q_INFO("model %s: %s", spec.c_str(), found.c_str());
    return found;
  }
  std::string looked;
  for (const Miss& m : misses) looked += (looked.empty() ? "" : "; ") + m.place + " (" + m.why + ")";
  const std::string how = plain ? "put the model directory in $OB1Q_MODELS/" + name + " or pass its path; a Hub model is named "
                                      "ORG/NAME and fetched with `huggingface-cli download ORG/NAME`"
                                : "get it with `huggingface-cli download " + spec + "` (or pass the model directory)";
  fail(spec, "model not found; looked at " + looked + ". ob1q never downloads: " + how);
}

}  // namespace ob1q::io
