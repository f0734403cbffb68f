// Running the packed model as a packed model: evaluation through the packed linears equals the
// dense path; generation with a KV cache equals recomputing the whole sequence; greedy tokens of a
// packed checkpoint equal those of its `export --dequantize` copy; `ob1q generate` / `ob1q bench`
// give the documented JSON; bad requests fail with one line.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <signal.h>

#include <chrono>
#include <thread>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/eval/perplexity.hpp"
#include "ob1q/generate/generate.hpp"
#include "ob1q/model/decoder.hpp"
#include "ob1q/pack/checkpoint.hpp"
#include "ob1q/quant/pipeline.hpp"
#include "test_support.hpp"

using namespace ob1q;
using test::error_of;

namespace {

const bool kRegistered = (pack::register_format(), true);

// A tiny fixture quantized to a packed checkpoint (cached per model and method for the run).
std::string packed_tiny(const std::string& model, const std::string& method) {
  static std::map<std::string, std::string> made;
  const std::string key = model + "/" + method;
  if (made.count(key)) return made[key];
  const std::string dir = test::temp_dir("gen-" + method);
  quant::QuantizeOptions o;
  o.model_dir = test::fixtures() + "/tiny/" + model;
  o.method = method;
  o.calib_file = test::write_calib_file(dir, 4, 32, 160);
  o.nsamples = 4;
  o.seqlen = 32;
  o.out = dir + "/q";
  o.progress = false;
  o.overrides = {{"blocksize", method == "oa" ? "16" : "48"}};
  if (method != "pb-llm") o.overrides.emplace_back("up_lim", "8");
  quant::run_quantize(o);
  return made[key] = o.out;
}

std::vector<std::vector<int32_t>> random_prompt(int64_t len, uint32_t seed) {
  std::vector<int32_t> p;
  uint32_t x = seed;
  for (int64_t i = 0; i < len; ++i) p.push_back(int32_t(((x = x * 1664525u + 1013904223u) >> 8) % 160));
  return {p};
}

}  // namespace

// The packed checkpoint's linears stay packed (no dense weight is held; sizes are checked on a
// realistic layer in test_packed_kernels.cpp -- these 64-wide toys are all tables), and
// perplexity through them equals the dense path within 1e-5 relative (fp32, CPU).
TEST(PackedRuntime, EvalPackedEqualsDense) {
  for (const std::string method : {"arb-rc", "billm", "pb-llm"}) {
    const std::string dir = packed_tiny("llama3-gqa", method);
    model::LoadOptions packed, dense;
    dense.packed = false;
    auto mp = model::DecoderModel::load(dir, packed), md = model::DecoderModel::load(dir, dense);
    for (auto& [name, l] : mp->block_module(1).linears()) {
      EXPECT_TRUE(l->packed && !l->weight.defined()) << method << " " << name;
      EXPECT_EQ(l->packed->layout(), method == "pb-llm" ? "pb-llm" : "binary-blocks");
    }
    EXPECT_FALSE(md->block_module(0).linears()[0].second->packed) << method;
    std::vector<int32_t> ids = random_prompt(4 * 64, 9)[0];
    eval::PplOptions po;
    po.seqlen = 64;
    const double a = eval::perplexity(*mp, ids, po).ppl, b = eval::perplexity(*md, ids, po).ppl;
    EXPECT_NEAR(a / b, 1.0, 1e-5) << method << " packed " << a << " dense " << b;
    EXPECT_GT(a, 1.0);
  }
}

// KV-cache decoding equals recomputing the whole sequence at every step: the same greedy tokens,
// and the cached step logits equal the full forward's at every position.
TEST(PackedRuntime, KvCacheEqualsRecompute) {
  for (const std::string model : {"llama3-gqa", "opt-untied-fp16", "opt350m-style"}) {
    auto m = model::DecoderModel::load(test::fixtures() + "/tiny/" + model, {});
    const auto prompt = random_prompt(7, 4);
    generate::Options o;
    o.max_new_tokens = 16;
    o.stop_at_eos = false;
    const auto cached = generate::generate(*m, prompt, o);
    o.use_cache = false;
    const auto full = generate::generate(*m, prompt, o);
    ASSERT_EQ(cached.tokens[0].size(), 16u) << model;
    EXPECT_EQ(cached.tokens[0], full.tokens[0]) << model;
    // Logits step by step: prefill 7, then 5 single tokens, against one forward of all 12.
    std::vector<int64_t> all(prompt[0].begin(), prompt[0].end());
    for (int i = 0; i < 5; ++i) all.push_back(cached.tokens[0][i]);
    const at::Tensor ids = at::tensor(all, at::kLong).view({1, -1});
    const at::Tensor ref = m->forward(ids);
    model::KVCache cache = m->new_cache(1, 12);
    model::Step s;
    s.pos = at::arange(7, at::kLong);
    at::Tensor got = m->forward_step(ids.narrow(1, 0, 7), cache, s, false);
    EXPECT_LT((got - ref.narrow(1, 0, 7)).abs().max().item<float>(), 1e-4) << model;
    for (int64_t p = 7; p < 12; ++p) {
      s.start = p;
      s.pos = at::full({1}, p, at::kLong);
      got = m->forward_step(ids.narrow(1, p, 1), cache, s, true);
      EXPECT_LT((got[0][0] - ref[0][p]).abs().max().item<float>(), 1e-4) << model << " position " << p;
    }
    EXPECT_EQ(cache.length, 12);
  }
}

// Greedy tokens of the packed checkpoint equal those of its dequantized export (fp32 CPU, 16
// tokens), for a binary-blocks and a pb-llm checkpoint.
TEST(PackedRuntime, GreedyPackedEqualsExport) {
  for (const std::string method : {"oa", "pb-llm"}) {
    const std::string dir = packed_tiny("llama3-gqa", method);
    const std::string exported = dir + "-export-" + method;
    auto [rc, out] = test::run_ob1q("export --dequantize " + dir + " --out " + exported + " --overwrite --log-level warn 2>&1");
    ASSERT_EQ(rc, 0) << out;
    auto mp = model::DecoderModel::load(dir, {}), me = model::DecoderModel::load(exported, {});
    ASSERT_TRUE(mp->block_module(1).linear("mlp.down_proj").packed);
    generate::Options o;
    o.max_new_tokens = 16;
    o.stop_at_eos = false;
    const auto prompt = random_prompt(5, 17);
    EXPECT_EQ(generate::generate(*mp, prompt, o).tokens, generate::generate(*me, prompt, o).tokens) << method;
  }
}

// Sampling: the same seed gives the same tokens; top_p small enough keeps only the argmax.
TEST(PackedRuntime, SamplingIsSeededAndTopPNarrows) {
  auto m = model::DecoderModel::load(test::fixtures() + "/tiny/llama3-gqa", {});
  const auto prompt = random_prompt(6, 8);
  generate::Options o;
  o.max_new_tokens = 12;
  o.stop_at_eos = false;
  const auto greedy = generate::generate(*m, prompt, o).tokens;
  o.sampling.temperature = 1.5;
  o.sampling.seed = 7;
  const auto a = generate::generate(*m, prompt, o).tokens, b = generate::generate(*m, prompt, o).tokens;
  EXPECT_EQ(a, b);
  o.sampling.seed = 8;
  EXPECT_NE(generate::generate(*m, prompt, o).tokens, a);  // 12 draws at T=1.5 over 160 tokens
  o.sampling.top_p = 1e-6;
  EXPECT_EQ(generate::generate(*m, prompt, o).tokens, greedy);
  o.sampling.top_p = 1.5;
  EXPECT_NE(error_of([&] { generate::generate(*m, prompt, o); }).find("--top-p"), std::string::npos);
}

TEST(PackedRuntime, PromptLongerThanContextIsRefused) {
  auto m = model::DecoderModel::load(test::fixtures() + "/tiny/llama3-gqa", {});  // 256 positions
  generate::Options o;
  o.max_new_tokens = 10;
  const std::string e = error_of([&] { generate::generate(*m, random_prompt(250, 1), o); });
  EXPECT_NE(e.find("exceeds the model's context of 256"), std::string::npos) << e;
}

// The CLI: streamed text equals the JSON's text; bench compares packed and dense in one run.
TEST(PackedRuntime, GenerateAndBenchCli) {
  const std::string dir = test::temp_dir("gen-cli");
  auto [rc, out] = test::run_ob1q("demo --out '" + dir + "' --log-level warn 2>&1");
  ASSERT_EQ(rc, 0) << out;
  const std::string model = dir + "/model";
  std::tie(rc, out) = test::run_ob1q("generate --device cpu --model '" + model +
                                     "' --prompt 'The tool' --max-new-tokens 12 --json '" + dir + "/g.json' 2>/dev/null");
  ASSERT_EQ(rc, 0) << out;
  const auto g = nlohmann::json::parse(read_file(dir + "/g.json"));
  EXPECT_EQ(g["token_ids"].size(), 12u);
  EXPECT_EQ(out, g["text"].get<std::string>() + "\n");  // stdout: the streamed text only
  for (const char* k : {"prefill_tokens_per_s", "decode_tokens_per_s", "weights_bytes"}) EXPECT_GT(g[k].get<double>(), 0) << k;

  // Quantize the demo model and bench the packed result against its dense form.
  const std::string calib = test::write_calib_file(dir, 4, 64, 264);
  std::tie(rc, out) = test::run_ob1q("quantize --device cpu --model '" + model + "' --calib-file '" + calib +
                                     "' --nsamples 4 --seqlen 64 --method arb-rc --up-lim 8 --out '" + dir +
                                     "/q' --log-level warn 2>&1");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = test::run_ob1q("bench --device cpu --model '" + dir + "/q' --prompt-tokens 8 --gen-tokens 4 --repeat 1 "
                                     "--compare-dense --json - --log-level warn 2>/dev/null");
  ASSERT_EQ(rc, 0) << out;
  const auto b = nlohmann::json::parse(out);
  ASSERT_EQ(b["variants"].size(), 2u);
  EXPECT_EQ(b["variants"][0]["weights"], "packed");
  EXPECT_EQ(b["variants"][1]["weights"], "dense");
  EXPECT_LT(b["variants"][0]["linear_weights_bytes"].get<double>(), b["variants"][1]["linear_weights_bytes"].get<double>() / 3);
  EXPECT_GT(b["variants"][0]["decode_tokens_per_s"].get<double>(), 0);

  // A prompt longer than the context: one line, exit 1.
  std::string long_prompt(3000, 'a');
  std::tie(rc, out) = test::run_ob1q("generate --device cpu --model '" + model + "' --prompt '" + long_prompt +
                                     "' --max-new-tokens 4 2>&1 >/dev/null");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("exceeds the model's context"), std::string::npos) << out;

  // Ctrl-C while tokens stream: the run ends between two tokens with exit 130 and one line.
  const std::string log = dir + "/interrupted.log";
  const int pid = test::spawn_ob1q({"generate", "--device", "cpu", "--model", model, "--prompt", "The tool",
                                    "--max-new-tokens", "1900", "--ignore-eos", "--log-level", "warn"},
                                   dir, log);
  for (int i = 0; i < 6000 && file_bytes(log) < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GE(file_bytes(log), 8) << "no text streamed";
  ::kill(pid, SIGINT);
  EXPECT_EQ(test::wait_ob1q(pid), 130);
  const std::string text = read_file(log);
  EXPECT_NE(text.find("ob1q: interrupted (SIGINT)"), std::string::npos) << text;
}
