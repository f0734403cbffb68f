// Checkpoint: single files, directories, and sharded checkpoints through the index json.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "io_test_util.hpp"
#include "ob1q/io/safetensors.hpp"
#include "test_support.hpp"

using namespace ob1q::io;
using ob1q::test::fixtures;
using ob1q::test::slurp;
using ob1q::test::spit;
using ob1q::test::throws_error;

namespace {

const char* kIndex = "model.safetensors.index.json";

nlohmann::json index_of(const std::string& dir) { return nlohmann::json::parse(slurp(dir + "/" + kIndex)); }

// Checks that `ck` resolves exactly the index's tensors, each from the shard the index names,
// and that their sizes add up to the index's metadata.total_size.
void expect_matches_index(const Checkpoint& ck, const std::string& dir, size_t shards) {
  auto index = index_of(dir);
  const auto& wm = index["weight_map"];
  std::vector<std::string> want;
  std::set<std::string> shard_names;
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    want.push_back(it.key());
    shard_names.insert(it.value().get<std::string>());
  }
  EXPECT_EQ(ck.names(), want);  // both sorted
  EXPECT_EQ(ck.files().size(), shards);
  EXPECT_EQ(shard_names.size(), shards);
  uint64_t total = 0;
  for (auto it = wm.begin(); it != wm.end(); ++it) {
    ASSERT_TRUE(ck.has(it.key())) << it.key();
    auto ref = ck.get(it.key());
    ASSERT_NE(ref.file, nullptr);
    ASSERT_NE(ref.info, nullptr);
    EXPECT_EQ(ref.info->name, it.key());
    EXPECT_EQ(ref.file->path(), dir + "/" + it.value().get<std::string>()) << it.key();
    EXPECT_EQ(ref.file->find(it.key()), ref.info);
    total += ref.info->nbytes;
  }
  EXPECT_EQ(total, index["metadata"]["total_size"].get<uint64_t>());
}

// A writable copy of the sharded fixture, to damage.
std::string copy_sharded(const std::string& tag) {
  std::string src = fixtures() + "/tiny/llama-tied-v4-sharded";
  std::string dst = ob1q::test::temp_dir(tag);
  spit(dst + "/" + kIndex, slurp(src + "/" + kIndex));
  for (int i = 1; i <= 7; ++i) {
    std::string name = "model-0000" + std::to_string(i) + "-of-00007.safetensors";
    spit(dst + "/" + name, slurp(src + "/" + name));
  }
  return dst;
}

}  // namespace

TEST(Checkpoint, ShardedFixture) {
  std::string dir = fixtures() + "/tiny/llama-tied-v4-sharded";
  auto ck = Checkpoint::open(dir);
  EXPECT_EQ(ck->location(), dir);
  expect_matches_index(*ck, dir, 7);
  // Tied embeddings: no lm_head; 2 layers * 9 + embed + norm.
  EXPECT_FALSE(ck->has("lm_head.weight"));
  EXPECT_EQ(ck->names().size(), 20u);
  auto emb = ck->get("model.embed_tokens.weight");
  EXPECT_EQ(emb.info->shape, (std::vector<int64_t>{160, 64}));
  EXPECT_EQ(emb.info->dtype, DType::F32);
  // Data is reachable and correct: the final norm is all ones.
  auto norm = ck->get("model.norm.weight");
  std::vector<float> v(64);
  std::memcpy(v.data(), norm.file->data(*norm.info), norm.info->nbytes);
  for (float x : v) EXPECT_EQ(x, 1.0f);
}

TEST(Checkpoint, SingleFileAndDirectory) {
  std::string dir = fixtures() + "/tiny/llama3-gqa";
  auto by_dir = Checkpoint::open(dir);
  auto by_file = Checkpoint::open(dir + "/model.safetensors");
  EXPECT_EQ(by_dir->location(), dir);
  EXPECT_EQ(by_file->location(), dir + "/model.safetensors");
  ASSERT_EQ(by_dir->files().size(), 1u);
  ASSERT_EQ(by_file->files().size(), 1u);
  EXPECT_EQ(by_dir->names(), by_file->names());
  EXPECT_EQ(by_dir->names().size(), 21u);
  EXPECT_TRUE(by_file->has("lm_head.weight"));
  EXPECT_FALSE(by_file->has("lm_head"));
  auto ref = by_file->get("model.layers.1.mlp.down_proj.weight");
  EXPECT_EQ(ref.file, by_file->files()[0].get());
  EXPECT_EQ(ref.info->shape, (std::vector<int64_t>{64, 112}));
}

TEST(Checkpoint, GetMissingNamesCheckpointAndTensor) {
  std::string dir = fixtures() + "/tiny/llama-tied-v4-sharded";
  auto ck = Checkpoint::open(dir);
  EXPECT_TRUE(throws_error([&] { ck->get("lm_head.weight"); }, dir, "'lm_head.weight'"));
}

TEST(Checkpoint, DirectoryWithoutWeights) {
  std::string dir = ob1q::test::temp_dir("ck-empty");
  spit(dir + "/config.json", "{}");
  try {
    Checkpoint::open(dir);
    FAIL() << "no error";
  } catch (const ob1q::Error& e) {
    EXPECT_EQ(std::string(e.what()), dir + ": no model.safetensors or model.safetensors.index.json");
  }
  std::string missing = dir + "/nothing-here";
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(missing); }, missing, "no such file or directory"));
}

TEST(Checkpoint, MissingShard) {
  std::string dir = copy_sharded("ck-missing");
  std::string gone = "model-00005-of-00007.safetensors";
  ASSERT_EQ(std::remove((dir + "/" + gone).c_str()), 0);
  auto msg = throws_error([&] { Checkpoint::open(dir); }, dir + "/" + kIndex, gone);
  EXPECT_TRUE(msg);
  EXPECT_NE(std::string(msg.message()).find("missing"), std::string::npos) << msg.message();
}

TEST(Checkpoint, IndexNamesTensorNotInShard) {
  std::string dir = copy_sharded("ck-wrong");
  auto index = index_of(dir);
  std::string real = index["weight_map"]["model.norm.weight"];
  std::string other = real == "model-00001-of-00007.safetensors" ? "model-00002-of-00007.safetensors"
                                                                  : "model-00001-of-00007.safetensors";
  index["weight_map"]["model.norm.weight"] = other;
  spit(dir + "/" + kIndex, index.dump(2));
  auto msg = throws_error([&] { Checkpoint::open(dir); }, dir + "/" + kIndex, "'model.norm.weight'");
  EXPECT_TRUE(msg);
  EXPECT_NE(std::string(msg.message()).find(other), std::string::npos) << msg.message();

  // A tensor that exists in no shard at all.
  index = index_of(fixtures() + "/tiny/llama-tied-v4-sharded");
  index["weight_map"]["model.ghost.weight"] = real;
  spit(dir + "/" + kIndex, index.dump(2));
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, dir + "/" + kIndex, "'model.ghost.weight'"));
}

TEST(Checkpoint, SameTensorInTwoShards) {
  std::string dir = copy_sharded("ck-dup");
  SafetensorsWriter w;
  float ones[64];
  for (float& x : ones) x = 1;
  w.add("extra.weight", DType::F32, {64}, ones, sizeof ones);
  w.add("model.norm.weight", DType::F32, {64}, ones, sizeof ones);
  w.write(dir + "/extra.safetensors");
  auto index = index_of(dir);
  index["weight_map"]["extra.weight"] = "extra.safetensors";
  spit(dir + "/" + kIndex, index.dump(2));
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, dir, "'model.norm.weight' is in two shards"));
}

TEST(Checkpoint, BadIndex) {
  std::string dir = copy_sharded("ck-badindex");
  std::string ip = dir + "/" + kIndex;
  spit(ip, "{not json");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "invalid JSON"));
  spit(ip, R"({"metadata": {}})");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "weight_map"));
  spit(ip, R"({"weight_map": {}})");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "empty"));
  spit(ip, R"({"weight_map": {"a": 3}})");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "not a string"));
  spit(ip, R"({"weight_map": {"a": "../model-00001-of-00007.safetensors"}})");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "invalid shard file name"));
  spit(ip, R"({"weight_map": {"a": "/etc/passwd"}})");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "invalid shard file name"));
  spit(ip, R"({"weight_map": {"model.embed_tokens.weight": "model-00001-of-00007.safetensors",
                              "model.embed_tokens.weight": "model-00002-of-00007.safetensors"}})");
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, ip, "duplicate key 'model.embed_tokens.weight'"));
}

TEST(Checkpoint, CorruptShardNamesTheShard) {
  std::string dir = copy_sharded("ck-corrupt");
  std::string shard = dir + "/model-00003-of-00007.safetensors";
  std::string bytes = slurp(shard);
  spit(shard, bytes.substr(0, bytes.size() - 100));
  EXPECT_TRUE(throws_error([&] { Checkpoint::open(dir); }, shard, "truncated"));
}

TEST(Checkpoint, SharedModels) {
  OB1Q_REQUIRE_SHARED();
  for (const char* name : {"llama-s", "opt-s"}) {
    SCOPED_TRACE(name);
    std::string dir = ob1q::test::shared() + "/models/" + name;
    auto ck = Checkpoint::open(dir);
    expect_matches_index(*ck, dir, 3);
    for (const auto& f : ck->files()) EXPECT_EQ(f->metadata().at("format"), "pt");
  }
}
