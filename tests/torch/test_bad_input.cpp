// Bad input gets one clear line naming the file and the problem, never a crash.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/model/decoder.hpp"
#include "ob1q/text/datasets.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;

namespace {

std::string copy_tiny(const std::string& name) {
  std::string dir = test::temp_dir(name);
  std::string cmd = "cp -r '" + test::fixtures() + "/tiny/" + name + "/.' '" + dir + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

void edit_config(const std::string& dir, const std::function<void(nlohmann::json&)>& f) {
  auto j = nlohmann::json::parse(read_file(dir + "/config.json"));
  f(j);
  write_file_atomic(dir + "/config.json", j.dump());
}

// Runs the CLI; returns (exit code, combined output).
std::pair<int, std::string> run_cli(const std::string& args) { return test::run_ob1q(args + " 2>&1"); }

}  // namespace

TEST(BadInput, UnknownModelType) {
  std::string dir = copy_tiny("llama3-gqa");
  edit_config(dir, [](auto& j) { j["model_type"] = "gpt_neox"; });
  std::string e = error_of([&] { model::DecoderModel::load(dir, {}); });
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("unsupported model_type \"gpt_neox\""), std::string::npos) << e;
}

TEST(BadInput, ConfigWeightShapeMismatch) {
  std::string dir = copy_tiny("llama3-gqa");
  edit_config(dir, [](auto& j) { j["intermediate_size"] = 128; });
  std::string e = error_of([&] { model::DecoderModel::load(dir, {}); });
  EXPECT_NE(e.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("[112, 64]"), std::string::npos) << e;
  EXPECT_NE(e.find("[128, 64]"), std::string::npos) << e;
}

TEST(BadInput, MissingTensorAndConfig) {
  std::string dir = copy_tiny("opt350m-style");
  edit_config(dir, [](auto& j) { j["num_hidden_layers"] = 3; });
  std::string e = error_of([&] { model::DecoderModel::load(dir, {}); });
  EXPECT_NE(e.find("missing tensor \"model.decoder.layers.2."), std::string::npos) << e;
  std::remove((dir + "/config.json").c_str());
  e = error_of([&] { model::DecoderModel::load(dir, {}); });
  EXPECT_NE(e.find("missing config.json"), std::string::npos) << e;
}

TEST(BadInput, MissingTokenizer) {
  std::string e = error_of([&] { text::load_tokenizer(test::fixtures() + "/tiny/llama3-gqa"); });
  EXPECT_NE(e.find("no tokenizer found"), std::string::npos) << e;
}

TEST(BadInput, MissingOrEmptyDataFile) {
  std::string dir = test::temp_dir("data");
  std::string e = error_of([&] { text::resolve_ppl_dataset("wikitext2", dir, text::PplVariant::Billm); });
  EXPECT_NE(e.find("no file found under " + dir), std::string::npos) << e;
  write_file_atomic(dir + "/empty.raw", std::string());
  e = error_of([&] { text::read_wikitext_rows(dir + "/empty.raw"); });
  EXPECT_NE(e.find("empty.raw: file is empty"), std::string::npos) << e;
  e = error_of([&] { text::resolve_ppl_dataset("lambada", dir, text::PplVariant::Billm); });
  EXPECT_NE(e.find("unknown dataset"), std::string::npos) << e;
  write_file_atomic(dir + "/bad.jsonl", std::string("{\"text\": \"ok\"}\n{\"txt\": 1}\n"));
  e = error_of([&] { text::read_c4_docs(dir + "/bad.jsonl"); });
  EXPECT_NE(e.find("record 2"), std::string::npos) << e;
}

TEST(BadInput, CliPrintsOneLineAndFails) {
  std::string dir = copy_tiny("llama3-gqa");
  auto [rc, out] = run_cli("eval --device cpu --model '" + dir + "' --ppl wikitext2 --data-dir '" + dir + "'");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_EQ(out.rfind("ob1q: error: ", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  std::tie(rc, out) = run_cli("eval --device cpu --model /nonexistent/model --ppl wikitext2=/nonexistent/x");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("/nonexistent/x"), std::string::npos) << out;
  std::tie(rc, out) = run_cli("eval --device tpu");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("--device"), std::string::npos) << out;
}
