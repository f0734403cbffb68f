// --model NAME resolved from a fake local Hugging Face cache (snapshots linked to blobs, refs/main)
// and $OB1Q_MODELS; every failure is one Error naming the places looked at.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/io/model_lookup.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

// Sets (or unsets, for nullptr) an environment variable for the life of the guard.
class EnvVar {
 public:
  EnvVar(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~EnvVar() {
    if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
    else ::unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

void mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

// <hub>/models--ORG--NAME with blobs, a snapshot of links to them, and refs/main.
std::string fake_repo(const std::string& hub, const std::string& org, const std::string& name, const std::string& commit) {
  const std::string repo = hub + "/models--" + org + "--" + name;
  mkdirs(repo + "/blobs");
  mkdirs(repo + "/refs");
  mkdirs(repo + "/snapshots/" + commit);
  write_file_atomic(repo + "/blobs/0f1e2d", "{\"model_type\": \"llama\"}");
  write_file_atomic(repo + "/blobs/a1b2c3", "weights");
  EXPECT_EQ(::symlink("../../blobs/0f1e2d", (repo + "/snapshots/" + commit + "/config.json").c_str()), 0);
  EXPECT_EQ(::symlink("../../blobs/a1b2c3", (repo + "/snapshots/" + commit + "/model.safetensors").c_str()), 0);
  write_file_atomic(repo + "/refs/main", commit + "\n");
  return repo;
}

std::string error_of(const std::string& spec) {
  try {
    io::resolve_model(spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(ModelLookup, SnapshotThatRefsMainNames) {
  const std::string hub = test::temp_dir("hub");
  const std::string repo = fake_repo(hub, "Qwen", "Qwen2.5-0.5B", "8e1ea3b0");
  mkdirs(repo + "/snapshots/0000old");  // another revision: not the one refs/main names
  EnvVar cache("HF_HUB_CACHE", hub.c_str());
  EXPECT_EQ(io::resolve_model("Qwen/Qwen2.5-0.5B"), repo + "/snapshots/8e1ea3b0");
  EXPECT_TRUE(file_exists(io::resolve_model("Qwen/Qwen2.5-0.5B") + "/config.json"));
}

TEST(ModelLookup, CacheDirectoryFromTheEnvironment) {
  const std::string home = test::temp_dir("hf-home");
  EnvVar unset_cache("HF_HUB_CACHE", nullptr);
  {
    EnvVar hf_home("HF_HOME", home.c_str());
    EXPECT_EQ(io::hf_hub_cache(), home + "/hub");
    const std::string repo = fake_repo(home + "/hub", "google", "gemma-2-2b", "c0ffee");
    EXPECT_EQ(io::resolve_model("google/gemma-2-2b"), repo + "/snapshots/c0ffee");
  }
  EnvVar no_home("HF_HOME", nullptr), no_xdg("XDG_CACHE_HOME", nullptr), user("HOME", "/home/someone");
  EXPECT_EQ(io::hf_hub_cache(), "/home/someone/.cache/huggingface/hub");
  EnvVar tilde("HF_HUB_CACHE", "~/hub");
  EXPECT_EQ(io::hf_hub_cache(), "/home/someone/hub");
}

TEST(ModelLookup, PlainNamesFromOb1qModels) {
  const std::string root = test::temp_dir("models");
  mkdirs(root + "/llama-2-7b");
  {
    EnvVar models("OB1Q_MODELS", root.c_str());
    EXPECT_EQ(io::resolve_model("llama-2-7b"), root + "/llama-2-7b");
    const std::string e = error_of("llama-3-8b");
    EXPECT_TRUE(has(e, root + "/llama-3-8b (no such directory)")) << e;
  }
  EnvVar models("OB1Q_MODELS", nullptr);
  const std::string e = error_of("llama-2-7b");
  EXPECT_TRUE(has(e, "$OB1Q_MODELS/llama-2-7b (OB1Q_MODELS is not set)")) << e;
}

TEST(ModelLookup, MissingModelListsEveryPlaceAndHowToGetIt) {
  const std::string hub = test::temp_dir("hub-empty");
  EnvVar cache("HF_HUB_CACHE", hub.c_str());
  const std::string e = error_of("mistralai/Mistral-7B-v0.1");
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line";
  EXPECT_TRUE(has(e, "mistralai/Mistral-7B-v0.1: model not found; looked at mistralai/Mistral-7B-v0.1 (no such directory); " +
                         hub + "/models--mistralai--Mistral-7B-v0.1 (not in the cache)"))
      << e;
  EXPECT_TRUE(has(e, "ob1q never downloads") && has(e, "`huggingface-cli download mistralai/Mistral-7B-v0.1`")) << e;
  // a repository whose main revision was never downloaded, or whose snapshot is gone
  const std::string repo = fake_repo(hub, "org", "model", "abc123");
  ::unlink((repo + "/refs/main").c_str());
  EXPECT_TRUE(has(error_of("org/model"), "(no refs/main: the cache holds no download of the main revision)"));
  write_file_atomic(repo + "/refs/main", "def456");
  EXPECT_TRUE(has(error_of("org/model"), "refs/main names commit def456 but snapshots/def456 is missing"));
}

TEST(ModelLookup, BrokenSnapshotLinkIsNamed) {
  const std::string hub = test::temp_dir("hub-broken");
  const std::string repo = fake_repo(hub, "microsoft", "Phi-3-mini-4k-instruct", "feed01");
  ::unlink((repo + "/blobs/a1b2c3").c_str());  // a pruned blob: model.safetensors now dangles
  EnvVar cache("HF_HUB_CACHE", hub.c_str());
  const std::string e = error_of("microsoft/Phi-3-mini-4k-instruct");
  EXPECT_TRUE(has(e, repo + "/snapshots/feed01/model.safetensors: is a broken link")) << e;
  EXPECT_TRUE(has(e, "huggingface-cli download microsoft/Phi-3-mini-4k-instruct")) << e;
}

TEST(ModelLookup, PathsAreNotLookedUp) {
  const std::string dir = test::temp_dir("plain-dir");
  EXPECT_EQ(io::resolve_model(dir), dir);  // an existing directory, as given
  for (const char* p : {"/no/such/model", "./missing", "../missing", "a/b/c", "~/x"}) EXPECT_EQ(io::resolve_model(p), p);
}
