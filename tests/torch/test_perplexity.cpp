#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/eval/perplexity.hpp"
#include "ob1q/eval/ppl_suite.hpp"
#include "ob1q/io/weight_source.hpp"
#include "test_support.hpp"

using namespace ob1q;

// Perplexity of one window computed by hand from the HF logits of the fixture.
TEST(Perplexity, MatchesHandComputedFromTransformersLogits) {
  std::string dir = test::fixtures() + "/tiny/opt350m-style";
  auto ex = io::CheckpointWeights::open(dir + "/expected.safetensors");
  at::Tensor ids = ex->load("input_ids", at::kLong, c10::kCPU);
  at::Tensor logits = ex->load("logits", at::kFloat, c10::kCPU);
  const int64_t T = ids.size(0), V = logits.size(1);
  double nll = 0;
  for (int64_t t = 0; t + 1 < T; ++t) {
    double mx = -1e30, z = 0;
    for (int64_t v = 0; v < V; ++v) mx = std::max(mx, logits[t][v].item<double>());
    for (int64_t v = 0; v < V; ++v) z += std::exp(logits[t][v].item<double>() - mx);
    nll += mx + std::log(z) - logits[t][ids[t + 1].item<int64_t>()].item<double>();
  }
  double want = std::exp(nll / double(T - 1));

  auto m = model::DecoderModel::load(dir, model::LoadOptions{});
  std::vector<int32_t> stream(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + T);
  stream.push_back(7);  // a partial tail window is dropped
  eval::PplOptions po;
  po.seqlen = T;
  auto r = eval::perplexity(*m, stream, po);
  EXPECT_EQ(r.windows, 1);
  EXPECT_EQ(r.tokens, T);
  EXPECT_NEAR(r.ppl, want, 1e-4 * want);
  // two windows of half length: ppl = exp(mean of the two window losses)
  po.seqlen = T / 2;
  auto r2 = eval::perplexity(*m, stream, po);
  EXPECT_EQ(r2.windows, 2);
  EXPECT_NEAR(r2.ppl, std::exp((r2.window_loss[0] + r2.window_loss[1]) / 2), 1e-9);
}

// reference-results.md: HF fp32 perplexity over the first 4 windows, and the stream hashes.
TEST(SharedModels, FirstFourWindowsMatchTransformersFp32) {
  OB1Q_REQUIRE_SHARED();
  struct Ref {
    const char* ds;
    double ppl;
    int64_t tokens_total;
    const char* sha;
  };
  struct Case {
    const char* model;
    std::vector<Ref> refs;
  };
  std::vector<Case> cases = {
      {"llama-s",
       {{"wikitext2", 82.366, 452669, "c80c6609fce59cfdf9617beefa106d90f11b0587869c1bd87b1daf7a1b261cd8"},
        {"ptb", 144.988, 131298, "633bf211d5a05af2346f2a1c8799016a394e5b627c22f6b21f4a62c52ca2efee"},
        {"c4", 52.452, 730550, "8db688a7aa4c42e739ef0909d9ab44efb3e80834a57d21efdd77fae9fb627654"}}},
      {"opt-s",
       {{"wikitext2", 76.862, 433275, "e11a448491764c7bceb042de172a4ca7c541d9c75049de64fd027a819301e157"},
        {"ptb", 233.182, 121679, "d5cbf1d1f496bf3af7a195e521de04f07cb010afd8970659d450e9802387a71a"},
        {"c4", 56.386, 712138, "c03175635afe64deedd635a6f15b6e2e0e8cc992889a90b4990b6e8d2600d749"}}}};
  for (const auto& c : cases) {
    eval::PplSuiteOptions o;
    o.model_dir = test::shared() + "/models/" + c.model;
    o.data_dir = test::shared() + "/data";
    o.datasets = {"wikitext2", "ptb", "c4"};
    o.limit_windows = 4;
    o.progress = false;
    auto r = eval::run_ppl_suite(o);
    for (const auto& ref : c.refs) {
      const auto& got = r["ppl"][ref.ds];
      EXPECT_EQ(got["ids_sha256"], ref.sha) << c.model << " " << ref.ds;
      EXPECT_EQ(got["tokens_total"], ref.tokens_total) << c.model << " " << ref.ds;
      EXPECT_EQ(got["windows"], 4);
      EXPECT_NEAR(got["ppl"].get<double>(), ref.ppl, 1e-3 * ref.ppl) << c.model << " " << ref.ds;
    }
  }
}
