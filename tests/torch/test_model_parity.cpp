// Logits of ob1q's LLaMA/OPT forward against HF transformers (fixtures captured on the GPU
// machine with scripts/reference/capture_fixtures.py: random tiny checkpoints covering GQA/MQA,
// llama3 rope scaling, tied/untied heads, bf16/fp16 storage, sharding, transformers-4 config keys,
// OPT-350m's post-LN + project_in/out).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "ob1q/io/safetensors.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/model/decoder.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

class TinyParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TinyParity, LogitsMatchTransformersFp32) {
  std::string dir = test::fixtures() + "/tiny/" + GetParam();
  auto expected = io::CheckpointWeights::open(dir + "/expected.safetensors");
  at::Tensor ids = expected->load("input_ids", at::kLong, c10::kCPU).unsqueeze(0);
  at::Tensor want = expected->load("logits", at::kFloat, c10::kCPU);
  model::LoadOptions opts;  // fp32, cpu
  auto m = model::DecoderModel::load(dir, opts);
  at::Tensor got = m->forward(ids)[0];
  ASSERT_EQ(got.sizes(), want.sizes());
  double max_abs = (got - want).abs().max().item<double>();
  EXPECT_LE(max_abs, 1e-3) << GetParam();
  // not a vacuous comparison: logits vary across positions and vocabulary
  EXPECT_GT(want.std().item<double>(), 0.005);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TinyParity,
                         ::testing::Values("llama3-gqa", "llama-tied-v4-sharded", "llama-bf16-mqa", "opt350m-style",
                                           "opt-untied-fp16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// Block-by-block execution equals the full forward (the quantizer streams blocks).
TEST(Decoder, BlockwiseEqualsForward) {
  std::string dir = test::fixtures() + "/tiny/llama3-gqa";
  model::LoadOptions opts;
  auto m = model::DecoderModel::load(dir, opts);
  at::Tensor ids = at::arange(5, 37, at::kLong).unsqueeze(0);
  at::Tensor h = m->embed(ids);
  int seen = 0;
  model::LinearObserver obs = [&](const std::string&, const at::Tensor&) { ++seen; };
  for (int64_t i = 0; i < m->num_blocks(); ++i) h = m->block(i, h, &obs);
  EXPECT_EQ(seen, 7 * m->num_blocks());
  EXPECT_TRUE(at::allclose(m->head(h), m->forward(ids), 1e-6, 1e-6));
}

// The logit probe of reference-results.md: ids 3..66, fp32, last position, first 8 logits.
struct Probe {
  const char* model;
  double logits[8];
};

TEST(SharedModels, LogitProbeMatchesTransformers) {
  OB1Q_REQUIRE_SHARED();
  const Probe probes[] = {
      {"llama-s", {-9.26471, 1.75084, -9.33079, -9.42114, -9.51736, -8.56518, -9.30861, -9.37463}},
      {"opt-s", {-13.33074, -13.08576, 6.76330, -12.89129, 5.18336, 7.41860, 3.71049, 6.99087}}};
  for (const auto& p : probes) {
    auto m = model::DecoderModel::load(test::shared() + "/models/" + p.model, model::LoadOptions{});
    at::Tensor logits = m->forward(at::arange(3, 67, at::kLong).unsqueeze(0))[0][-1];
    for (int i = 0; i < 8; ++i) EXPECT_NEAR(logits[i].item<double>(), p.logits[i], 1e-3) << p.model << " logit " << i;
  }
}

}  // namespace
