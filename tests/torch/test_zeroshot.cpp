// Zero-shot scoring: the batched log-likelihood primitive against log-probabilities computed from
// HF transformers' logits (the tiny fixtures), truncation and greedy flags, and `ob1q eval --tasks`
// end to end on the shared model (metrics consistent with the dumped per-request scores).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "ob1q/common/file.hpp"
#include "ob1q/eval/loglikelihood.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/model/decoder.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

std::vector<int32_t> slice(const at::Tensor& ids, int64_t a, int64_t b) {
  std::vector<int32_t> v;
  for (int64_t i = a; i < b; ++i) v.push_back(static_cast<int32_t>(ids[i].item<int64_t>()));
  return v;
}

// sum_{p = k-1}^{n-2} log_softmax(logits[p])[ids[p+1]] from a [n, V] logit matrix.
double ll_from_logits(const at::Tensor& logits, const at::Tensor& ids, int64_t k, int64_t n) {
  at::Tensor lp = at::log_softmax(logits.to(at::kDouble), -1);
  double s = 0;
  for (int64_t p = k - 1; p < n - 1; ++p) s += lp[p][ids[p + 1].item<int64_t>()].item<double>();
  return s;
}

class LlParity : public ::testing::TestWithParam<std::string> {};

// Requests of different lengths in one batched call (right padding) against the HF logits of the
// whole sequence: the causal model must give every prefix the same log-probabilities.
TEST_P(LlParity, MatchesTransformersLogits) {
  const std::string dir = test::fixtures() + "/tiny/" + GetParam();
  auto expected = io::CheckpointWeights::open(dir + "/expected.safetensors");
  at::Tensor ids = expected->load("input_ids", at::kLong, c10::kCPU);
  at::Tensor hf = expected->load("logits", at::kFloat, c10::kCPU);
  const int64_t n = ids.size(0);
  auto m = model::DecoderModel::load(dir, {});
  std::vector<eval::LlRequest> reqs;
  std::vector<double> want;
  for (auto [k, e] : std::vector<std::pair<int64_t, int64_t>>{{1, n}, {5, 9}, {n / 2, n}, {3, 4}, {n - 1, n}}) {
    reqs.push_back({slice(ids, 0, k), slice(ids, k, e)});
    want.push_back(ll_from_logits(hf, ids, k, e));
  }
  eval::LlOptions o;
  o.batch_tokens = 4 * n;  // several requests per forward
  auto got = eval::score_requests(*m, reqs, o);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_NEAR(got[i].ll, want[i], 2e-3 * double(reqs[i].continuation.size())) << i;
  EXPECT_LT(want[0], -1.0);  // a real sum over many tokens, not a vacuous zero
}

INSTANTIATE_TEST_SUITE_P(Fixtures, LlParity,
                         ::testing::Values("llama3-gqa", "llama-bf16-mqa", "opt350m-style", "opt-untied-fp16"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

// Left truncation to max_length keeps the last max_length+1 tokens; greedy is true exactly when
// every continuation token is the model's argmax.
TEST(Loglikelihood, TruncationAndGreedy) {
  const std::string dir = test::fixtures() + "/tiny/llama3-gqa";
  auto m = model::DecoderModel::load(dir, {});
  at::Tensor ids = at::arange(3, 40, at::kLong);
  eval::LlOptions o;
  o.max_length = 8;
  auto got = eval::score_requests(*m, {{slice(ids, 0, 30), slice(ids, 30, 33)}}, o);
  // Reference: the model on the last 9 tokens minus one, scoring the last 3.
  at::Tensor window = ids.narrow(0, 24, 9);
  at::Tensor logits = m->forward(window.narrow(0, 0, 8).unsqueeze(0))[0];
  EXPECT_NEAR(got[0].ll, ll_from_logits(logits, window, 6, 9), 1e-5);

  // Greedy continuation: append the argmax token three times.
  std::vector<int32_t> ctx = slice(ids, 0, 10), cont;
  std::vector<int32_t> seq = ctx;
  for (int i = 0; i < 3; ++i) {
    at::Tensor x = at::tensor(std::vector<int64_t>(seq.begin(), seq.end()), at::kLong).unsqueeze(0);
    const int32_t next = static_cast<int32_t>(m->forward(x)[0][-1].argmax().item<int64_t>());
    seq.push_back(next), cont.push_back(next);
  }
  std::vector<int32_t> wrong = cont;
  wrong[1] = (wrong[1] + 1) % 160;
  auto g = eval::score_requests(*m, {{ctx, cont}, {ctx, wrong}});
  EXPECT_TRUE(g[0].greedy);
  EXPECT_FALSE(g[1].greedy);
  EXPECT_GT(g[0].ll, g[1].ll);
}

// The CLI on the shared model: harness-shaped JSON, and every reported accuracy recomputed from
// the dumped per-request log-likelihoods.
TEST(ZeroShotCli, MetricsAgreeWithDumpedScores) {
  OB1Q_REQUIRE_SHARED();
  const std::string dir = test::temp_dir("zs");
  auto [rc, out] = test::run_ob1q("eval --model " + test::shared() + "/models/llama-s --data-dir " + test::shared() +
                                  "/data --tasks all --limit 6 --device cpu --log-level warn --dump-requests " + dir +
                                  "/req.jsonl --json " + dir + "/zs.json 2>&1");
  ASSERT_EQ(rc, 0) << out;
  auto r = nlohmann::json::parse(read_file(dir + "/zs.json"));
  ASSERT_EQ(r["results"].size(), 8u);
  std::map<std::string, std::map<int, std::vector<nlohmann::json>>> docs;
  std::ifstream f(dir + "/req.jsonl");
  for (std::string line; std::getline(f, line);) {
    auto j = nlohmann::json::parse(line);
    docs[j["task"]][j["doc"].get<int>()].push_back(j);
  }
  for (auto& [task, res] : r["results"].items()) {
    ASSERT_EQ(docs[task].size(), 6u) << task;
    double acc = 0;
    for (auto& [d, rs] : docs[task]) {
      if (task == "lambada_openai") {
        acc += rs[0]["greedy"].get<bool>();
        continue;
      }
      size_t best = 0;
      for (size_t i = 1; i < rs.size(); ++i)
        if (rs[i]["ll"].get<double>() > rs[best]["ll"].get<double>()) best = i;
      acc += rs[best]["choice"].get<int>() == rs[best]["gold"].get<int>();
    }
    EXPECT_NEAR(res["acc,none"].get<double>(), acc / 6, 1e-12) << task;
    EXPECT_TRUE(res.contains("acc_stderr,none")) << task;
  }
  EXPECT_TRUE(r["results"]["hellaswag"].contains("acc_norm,none"));
  EXPECT_FALSE(r["results"]["boolq"].contains("acc_norm,none"));
  EXPECT_TRUE(r["results"]["lambada_openai"].contains("perplexity,none"));
  EXPECT_TRUE(r["averages"].contains("qa7"));
  EXPECT_NE(out.find("winogrande"), std::string::npos);
}

}  // namespace

// --ppl and --tasks together: one model load, both result sets in one JSON.
TEST(ZeroShotCli, PerplexityAndTasksTogether) {
  OB1Q_REQUIRE_SHARED();
  const std::string dir = test::temp_dir("zs-both");
  auto [rc, out] = test::run_ob1q("eval --model " + test::shared() + "/models/llama-s --data-dir " + test::shared() +
                                  "/data --ppl wikitext2 --limit-windows 1 --tasks winogrande --limit 4 --device cpu "
                                  "--log-level warn --json " + dir + "/r.json 2>&1");
  ASSERT_EQ(rc, 0) << out;
  auto r = nlohmann::json::parse(read_file(dir + "/r.json"));
  EXPECT_GT(r["ppl"]["wikitext2"]["ppl"].get<double>(), 1.0);
  EXPECT_EQ(r["n-samples"]["winogrande"]["effective"].get<int>(), 4);
  const double acc = r["results"]["winogrande"]["acc,none"].get<double>();
  EXPECT_TRUE(acc == 0 || acc == 0.25 || acc == 0.5 || acc == 0.75 || acc == 1) << acc;
}
