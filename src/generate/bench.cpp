#include "ob1q/generate/bench.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>

#include "ob1q/common/device_memory.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/generate/generate.hpp"
#include "ob1q/pack/checkpoint.hpp"

namespace ob1q::generate {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void sync(const at::Tensor& t) {
  if (t.is_cuda()) (void)t.cpu();
}

// Random prompt ids below the vocabulary (a fixed LCG: the same prompt for every variant).
std::vector<std::vector<int32_t>> random_prompts(int64_t batch, int64_t len, int64_t vocab, uint64_t seed) {
  std::vector<std::vector<int32_t>> p(static_cast<size_t>(batch));
  uint64_t x = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& row : p)
    for (int64_t i = 0; i < len; ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      row.push_back(int32_t((x >> 33) % uint64_t(vocab)));
    }
  return p;
}

nlohmann::json bench_variant(const BenchOptions& o, bool packed) {
  c10::NoGradGuard no_grad;
  model::LoadOptions lo = o.load;
  lo.packed = packed;
  const auto t_load = std::chrono::steady_clock::now();
  auto m = model::DecoderModel::load(o.model_dir, lo);
  const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
  const auto prompts = random_prompts(o.batch, o.prompt_tokens, m->config().vocab_size, o.seed);
  const c10::Device dev = lo.device;
  reset_peak_device_memory(dev);

  // Prefill alone: a prompt through a fresh cache (warm-up, then timed runs).
  const int64_t P = o.prefill_tokens > 0 ? o.prefill_tokens : o.prompt_tokens;
  std::vector<int64_t> flat;
  for (const auto& p : random_prompts(o.batch, P, m->config().vocab_size, o.seed + 1)) flat.insert(flat.end(), p.begin(), p.end());
  const at::Tensor ids = at::tensor(flat, at::kLong).view({o.batch, P}).to(dev);
  model::Step pre;
  pre.pos = at::arange(P, at::TensorOptions().dtype(at::kLong).device(dev));
  std::vector<double> prefill;
  for (int64_t r = 0; r <= o.repeat; ++r) {
    model::KVCache cache = m->new_cache(o.batch, P + 1);
    sync(ids);
    const auto t0 = std::chrono::steady_clock::now();
    sync(m->forward_step(ids, cache, pre, true));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) prefill.push_back(double(o.batch * P) / s);
  }
  // Decode: greedy generation of gen_tokens (no stop at EOS), warm-up then timed runs.
  Options go;
  go.max_new_tokens = o.gen_tokens;
  go.stop_at_eos = false;
  go.cuda_graph = o.cuda_graph;
  std::vector<double> decode;
  bool graph = false;
  for (int64_t r = 0; r <= o.repeat; ++r) {
    const Result res = generate(*m, prompts, go);
    graph = res.graph;
    if (r > 0) decode.push_back(res.decode_tokens_per_s());
  }
  const int64_t bytes = m->resident_bytes(), linear_bytes = m->linear_resident_bytes();
  // Bytes a decode step reads: every weight once, except the embedding table (B rows of it).
  const int64_t embed_bytes = m->config().vocab_size * m->config().hidden_size * int64_t(c10::elementSize(lo.dtype));
  const double steps_per_s = median(decode) / double(o.batch);
  const bool tied = m->config().tie_word_embeddings;
  const double read = double(bytes - (tied ? 0 : embed_bytes));
  nlohmann::json j = {{"weights", packed ? "packed" : "dense"},
                      {"weights_bytes", bytes},
                      {"linear_weights_bytes", linear_bytes},
                      {"prefill_tokens_per_s", median(prefill)},
                      {"decode_tokens_per_s", median(decode)},
                      {"decode_gb_per_s", read * steps_per_s / 1e9},
                      {"prefill_runs", prefill},
                      {"decode_runs", decode},
                      {"graph", graph},
                      {"load_seconds", load_s},
                      {"peak_device_memory_bytes", peak_device_memory(dev)}};
  return j;
}

}  // namespace

nlohmann::json run_bench(const BenchOptions& o) {
  if (o.prompt_tokens < 1 || o.gen_tokens < 2 || o.batch < 1 || o.repeat < 1)
    fail("bench", "--prompt-tokens, --batch and --repeat must be >= 1 and --gen-tokens >= 2");
  const bool is_packed = pack::is_packed(o.model_dir);
  nlohmann::json variants = nlohmann::json::array();
  variants.push_back(bench_variant(o, /*packed=*/true));
  if (is_packed) {
    variants.back()["weights"] = o.load.packed ? "packed" : "dense";
    if (o.compare_dense && o.load.packed) variants.push_back(bench_variant(o, false));
  } else {
    variants.back()["weights"] = "dense";
    if (o.compare_dense) OB1Q_WARN("%s is not a packed checkpoint: --compare-dense has nothing to add", o.model_dir.c_str());
  }
  const double dense_decode = variants.back()["decode_tokens_per_s"].get<double>();
  for (auto& v : variants) v["decode_vs_last"] = dense_decode > 0 ? v["decode_tokens_per_s"].get<double>() / dense_decode : 0;
  return {{"command", "bench"},
          {"model", o.model_dir},
          {"packed_checkpoint", is_packed},
          {"device", o.load.device.str()},
          {"device_name", device_name(o.load.device)},
          {"dtype", c10::toString(o.load.dtype)},
          {"prompt_tokens", o.prompt_tokens},
          {"prefill_tokens", o.prefill_tokens > 0 ? o.prefill_tokens : o.prompt_tokens},
          {"gen_tokens", o.gen_tokens},
          {"batch", o.batch},
          {"repeat", o.repeat},
          {"variants", variants}};
}

}  // namespace ob1q::generate
