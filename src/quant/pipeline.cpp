#include "ob1q/common/log.hpp"
#include "ob1q/quant/pipeline.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <map>

#include "ob1q/common/device_memory.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/progress.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/quant/hessian.hpp"
#include "ob1q/quant/method.hpp"
#include "ob1q/quant/output.hpp"
#include "ob1q/text/calibration.hpp"
#include "ob1q/text/datasets.hpp"

namespace ob1q::quant {

namespace {

using clock_type = std::chrono::steady_clock;
double since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

Params resolve_params(const QuantizeOptions& o, const MethodInfo& info) {
  Params p(info.defaults);
  if (!o.config_file.empty()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(o.config_file));
    } catch (const nlohmann::json::exception& e) {
      fail(o.config_file, std::string("invalid JSON: ") + e.what());
    }
    if (j.is_object() && j.contains("method") && j["method"] != o.method)
      fail(o.config_file, "preset is for method " + j["method"].dump() + ", not \"" + o.method + "\"");
    p.merge(j.is_object() && j.contains("params") ? j["params"] : j, o.config_file);
  }
  for (const auto& [k, v] : o.overrides) p.set_from_string(k, v, "--" + k);
  return p;
}

text::CalibrationSet calibration(const QuantizeOptions& o, const text::Tokenizer& tok) {
  if (!o.calib_file.empty()) return text::load_windows(o.calib_file, o.nsamples, o.seqlen);
  if (o.calib != "c4") fail("--calib", "unknown calibration source \"" + o.calib + "\" (c4, or --calib-file FILE)");
  std::string path = text::resolve_c4_train(o.data_dir);
  auto cs = text::sample_windows(text::read_c4_docs(path), tok, o.nsamples, o.seqlen, o.seed);
  cs.source = path;
  cs.source_sha256 = sha256_file(path);
  return cs;
}

// Accumulates one Hessian per distinct input of the block's linears (q/k/v and gate/up share
// theirs): consecutive linears observed with the same input tensor share an accumulator.
class StatsCollector {
 public:
  explicit StatsCollector(c10::Device device) : device_(device) {}
  void observe(const std::string& name, const at::Tensor& x) {
    if (!x.is_same(last_input_)) {
      last_input_ = x;
      if (!acc_.count(name)) acc_.emplace(name, std::make_shared<HessianAccumulator>(x.size(-1), device_));
      last_acc_ = acc_.at(name);
      last_acc_->add_sequence(x);
    } else if (!acc_.count(name)) {
      acc_.emplace(name, last_acc_);
    }
  }
  void end_sequence() { last_input_ = at::Tensor(); }
  const HessianAccumulator& get(const std::string& name) const { return *acc_.at(name); }

 private:
  c10::Device device_;
  std::map<std::string, std::shared_ptr<HessianAccumulator>> acc_;
  at::Tensor last_input_;
  std::shared_ptr<HessianAccumulator> last_acc_;
};

}  // namespace

nlohmann::json run_quantize(const QuantizeOptions& o) {
  c10::NoGradGuard no_grad;
  const auto t_start = clock_type::now();
  // Everything that can be checked cheaply is checked before the slow work starts.
  const MethodInfo& info = find_method(o.method);
  Params params = resolve_params(o, info);
  auto method = info.make(params);
  check_output_dir(o.out, o.overwrite);
  if (o.nsamples <= 0) fail("--nsamples", "must be positive");
  if (o.seqlen < 2) fail("--seqlen", "must be at least 2");

  auto tok = text::load_tokenizer(o.model_dir);
  text::CalibrationSet calib = calibration(o, *tok);
  const int64_t n = static_cast<int64_t>(calib.windows.size()), L = static_cast<int64_t>(calib.windows[0].size());
  OB1Q_INFO("calibration: %lld windows of %lld tokens from %s (windows sha256 %.16s)", (long long)n, (long long)L,
            calib.source.c_str(), calib.windows_sha256.c_str());

  model::LoadOptions lo = o.load;
  lo.stream_blocks = true;
  auto m = model::DecoderModel::load(o.model_dir, lo);
  const c10::Device dev = lo.device;
  if (L > m->config().max_position_embeddings)
    fail("--seqlen", std::to_string(L) + " exceeds the model's max_position_embeddings " +
                         std::to_string(m->config().max_position_embeddings));
  reset_peak_device_memory(dev);

  // q-stream: inputs of the current block for every calibration sequence, in the model dtype.
  at::Tensor inps = at::empty({n, L, m->config().hidden_size}, at::TensorOptions().dtype(lo.dtype).device(dev));
  for (int64_t s = 0; s < n; ++s) {
    at::Tensor ids = at::tensor(calib.windows[s], at::kInt).to(at::kLong).unsqueeze(0).to(dev);
    inps[s].copy_(m->embed(ids)[0]);
  }
  at::Tensor outs = at::empty_like(inps);

  int64_t total_linears = 0;
  for (int64_t b = 0; b < m->num_blocks(); ++b) total_linears += m->block_module(b).linears().size();
  Progress bar("quantize " + o.method, total_linears, o.progress);
  std::map<std::string, at::Tensor> quantized;
  nlohmann::json layers = nlohmann::json::array(), blocks = nlohmann::json::array();
  double weighted_bits = 0, weights = 0;

  for (int64_t b = 0; b < m->num_blocks(); ++b) {
    const auto t_block = clock_type::now();
    model::Block& blk = m->block_module(b);
    blk.to(dev);
    // 1. capture: statistics of every linear from the unquantized block, one sequence per forward
    StatsCollector stats(dev);
    model::LinearObserver obs = [&](const std::string& name, const at::Tensor& x) { stats.observe(name, x); };
    for (int64_t s = 0; s < n; ++s) {
      blk.forward(inps.narrow(0, s, 1), &obs);
      stats.end_sequence();
    }
    // 2. quantize every linear (statistics are frozen, so order does not matter)
    for (auto& [name, lin] : blk.linears()) {
      const std::string full = m->block_prefix(b) + name;
      auto t0 = clock_type::now();
      const HessianAccumulator& h = stats.get(name);
      LinearResult r = method->quantize(full, lin->weight, LinearStats{h.H(), h.count()});
      at::Tensor W_new = r.W_hat.to(lin->weight.scalar_type());
      double rel_err = ((W_new.to(at::kFloat) - lin->weight.to(at::kFloat)).norm() / lin->weight.to(at::kFloat).norm()).item<double>();
      lin->weight.copy_(W_new);
      quantized[full + ".weight"] = lin->weight.to(at::kCPU);
      const double ms = since(t0) * 1000;
      r.stats["layer"] = full;
      r.stats["shape"] = lin->weight.sizes().vec();
      r.stats["weight_rel_error"] = rel_err;
      r.stats["ms"] = ms;
      if (r.stats.contains("bits_per_weight")) {
        weighted_bits += r.stats["bits_per_weight"].get<double>() * double(lin->weight.numel());
        weights += double(lin->weight.numel());
      }
      OB1Q_INFO("%-40s %5lldx%-5lld rel.err %.4f loss %.4g %.0f ms", full.c_str(), (long long)lin->weight.size(0),
                (long long)lin->weight.size(1), rel_err, r.stats.value("loss", 0.0), ms);
      layers.push_back(r.stats);
      bar.advance(1, full);
    }
    // 3. propagate the q-stream through the quantized block
    for (int64_t s = 0; s < n; ++s) outs[s].copy_(blk.forward(inps.narrow(0, s, 1))[0]);
    if (!at::isfinite(outs).all().item<bool>())
      fail(m->block_prefix(b), "quantized block produced NaN/Inf activations");
    std::swap(inps, outs);
    blk.to(c10::Device(c10::kCPU));
    blocks.push_back({{"block", b}, {"seconds", since(t_block)}});
  }
  bar.finish();

  const double seconds = since(t_start);
  const int64_t peak = peak_device_memory(dev);
  nlohmann::json report = {
      {"tool", {{"name", "ob1q"}, {"version", OB1Q_VERSION}}},
      {"format", "fake-quant"},
      {"source_model", o.model_dir},
      {"method", o.method},
      {"params", params.json()},
      {"calibration",
       {{"source", calib.source}, {"source_sha256", calib.source_sha256}, {"nsamples", n}, {"seqlen", L},
        {"seed", o.seed}, {"windows_sha256", calib.windows_sha256}}},
      {"device", dev.str()},
      {"dtype", io::float_dtype_name(lo.dtype)},
      {"seconds", seconds},
      {"peak_device_memory_bytes", peak},
      {"bits_per_weight", weights > 0 ? nlohmann::json(weighted_bits / weights) : nlohmann::json()},
      {"blocks", blocks},
      {"layers", layers}};
  write_fake_quant(o.out, o.model_dir, quantized, report, o.overwrite);
  const std::string where = peak >= 0 ? std::to_string(peak / (1 << 20)) + " MiB peak device memory" : "host";
  OB1Q_INFO("quantized %zu linears in %s (%s); wrote %s", layers.size(), format_duration(seconds).c_str(), where.c_str(),
            o.out.c_str());
  return report;
}

}  // namespace ob1q::quant
