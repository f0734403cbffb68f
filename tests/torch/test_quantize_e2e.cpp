// End to end on the CPU: quantize a real (small) model, reload the written checkpoint, and check
// that its perplexity lies strictly between the full-precision model's and that of an all-sign
// baseline (every linear replaced by mean|W_row| * sign(W), no calibration).
#include <ATen/ATen.h>
#include <dirent.h>
#include <gtest/gtest.h>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/eval/perplexity.hpp"
#include "ob1q/quant/pipeline.hpp"
#include "ob1q/text/datasets.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace ob1q;

namespace {

double ppl_of(const model::DecoderModel& m, const std::vector<int32_t>& ids) {
  eval::PplOptions po;
  po.seqlen = 256;
  po.limit_windows = 8;
  return eval::perplexity(m, ids, po).ppl;
}

}  // namespace

TEST(QuantizeE2E, ArbRcBetweenFullPrecisionAndAllSign) {
  OB1Q_REQUIRE_SHARED();
  const std::string model_dir = test::shared() + "/models/llama-s", data = test::shared() + "/data";
  const std::string out = test::temp_dir("q") + "/arb-rc";
  quant::QuantizeOptions o;
  o.model_dir = model_dir;
  o.data_dir = data;
  o.method = "arb-rc";
  o.nsamples = 4;
  o.seqlen = 256;
  o.out = out;
  o.progress = false;
  auto report = quant::run_quantize(o);
  EXPECT_EQ(report["layers"].size(), 8u * 7u);
  EXPECT_EQ(report["calibration"]["nsamples"], 4);
  const double bits = report["bits_per_weight"].get<double>();
  EXPECT_GT(bits, 1.0);
  EXPECT_LT(bits, 1.0 + 49.0 / 128.0);
  for (const char* f : {"config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json", "tokenizer.model",
                        "ob1q_report.json", "ob1q_manifest.json"})
    EXPECT_TRUE(file_exists(out + "/" + f)) << f;

  auto tok = text::load_tokenizer(model_dir);
  auto ds = text::resolve_ppl_dataset("wikitext2", data, text::PplVariant::Billm);
  auto ids = text::ppl_token_stream(ds, *tok, text::PplVariant::Billm, 256, tok->parses_special_in_corpora()).ids;

  auto fp = model::DecoderModel::load(model_dir, {});
  const double ppl_fp = ppl_of(*fp, ids);
  const double ppl_q = ppl_of(*model::DecoderModel::load(out, {}), ids);
  for (int64_t b = 0; b < fp->num_blocks(); ++b)
    for (auto& [name, lin] : fp->block_module(b).linears())
      lin->weight = lin->weight.abs().mean(1, true) * at::sign(lin->weight);
  const double ppl_sign = ppl_of(*fp, ids);
  EXPECT_LT(ppl_fp, ppl_q);
  EXPECT_LT(ppl_q, ppl_sign);
  std::printf("ppl fp %.2f, arb-rc %.2f, all-sign %.2f\n", ppl_fp, ppl_q, ppl_sign);

  // A second run into the same directory is refused before any work; nothing half-written stays.
  EXPECT_THROW(quant::run_quantize(o), Error);
  DIR* d = opendir((out + "/..").c_str());
  while (dirent* e = readdir(d)) EXPECT_EQ(std::string(e->d_name).find(".partial-"), std::string::npos);
  closedir(d);
}

// OA's --oa-xhat true-seq re-captures the final FC's statistics from the partially quantized
// block: in the first block every other linear must come out exactly as with block-start and the
// final FC differently (later blocks see a different q-stream, so everything may differ there).
TEST(QuantizeE2E, OaTrueSeqChangesOnlyTheFinalFc) {
  const std::string dir = test::temp_dir("oa-xhat");
  const std::string calib = test::write_calib_file(dir, 4, 32, 160);
  auto run = [&](const std::string& xhat) {
    quant::QuantizeOptions o;
    o.model_dir = test::fixtures() + "/tiny/llama3-gqa";
    o.method = "oa";
    o.calib_file = calib;
    o.nsamples = 4;
    o.seqlen = 32;
    o.out = dir + "/" + xhat;
    o.progress = false;
    o.overrides = {{"oa_xhat", xhat}, {"up_lim", "8"}, {"blocksize", "16"}};
    quant::run_quantize(o);
    model::LoadOptions lo;
    lo.packed = false;  // dense weights, to compare them
    return model::DecoderModel::load(o.out, lo);
  };
  auto a = run("block-start"), b = run("true-seq");
  for (int64_t blk = 0; blk < a->num_blocks(); ++blk)
    for (auto& [name, lin] : a->block_module(blk).linears()) {
      const at::Tensor& wb = b->block_module(blk).linear(name).weight;
      if (blk == 0) EXPECT_EQ(at::equal(lin->weight, wb), name != "mlp.down_proj") << blk << " " << name;
      EXPECT_TRUE(at::isfinite(wb).all().item<bool>());
    }
}
