#include "ob1q/common/log.hpp"
#include "ob1q/quant/pipeline.hpp"
#include "ob1q/pack/checkpoint.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <map>

#include "ob1q/common/device_memory.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/interrupt.hpp"
#include "ob1q/common/output_dir.hpp"
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

text::CalibrationSet calibration(const QuantizeOptions& o) {
  if (!o.calib_file.empty()) return text::load_windows(o.calib_file, o.nsamples, o.seqlen);  // no tokenizer needed
  if (o.calib != "c4") fail("--calib", "unknown calibration source \"" + o.calib + "\" (c4, or --calib-file FILE)");
  std::string path = text::resolve_c4_train(o.data_dir);
  auto tok = text::load_tokenizer(o.model_dir);
  auto cs = text::sample_windows(text::read_c4_docs(path), *tok, o.nsamples, o.seqlen, o.seed);
  cs.source = path;
  cs.source_sha256 = sha256_file(path);
  return cs;
}

// Accumulates one Hessian per input of the block's linears: the linears the family table gives
// the same input (q/k/v, gate/up) share one accumulator, fed once per sequence.
class StatsCollector {
 public:
  StatsCollector(const model::FamilyTable& family, c10::Device device) : family_(family), device_(device) {}
  void observe(const std::string& name, const at::Tensor& x) {
    const int group = family_.linear(name).input;
    auto& acc = group_acc_[group];
    if (!acc) acc = std::make_shared<HessianAccumulator>(x.size(-1), device_);
    acc_.emplace(name, acc);
    auto fed = fed_.find(group);
    if (fed == fed_.end()) {
      fed_.emplace(group, x);
      acc->add_sequence(x);
    } else if (!fed->second.is_same(x)) {
      fail(name, "reads a different input than the other linears of its group in the " + family_.model_type +
                     " family table (internal error)");
    }
  }
  void end_sequence() { fed_.clear(); }
  const HessianAccumulator& get(const std::string& name) const { return *acc_.at(name); }

 private:
  const model::FamilyTable& family_;
  c10::Device device_;
  std::map<int, std::shared_ptr<HessianAccumulator>> group_acc_;
  std::map<std::string, std::shared_ptr<HessianAccumulator>> acc_;
  std::map<int, at::Tensor> fed_;  // the input each group was fed in the current sequence
};

// Cross Grams C_J = (1/n) sum_s X_{s,J}^T Xhat_{s,J} (diagonal beta x beta blocks only) for the
// linears a method asks for: inputs are captured from the q-stream and the fp-stream forward of
// the same sequence, multiplied block-wise, and dropped.
class CrossGrams {
 public:
  CrossGrams(const Method& method, model::Block& blk, int64_t n) : n_(n) {
    for (auto& [name, lin] : blk.linears())
      if (int64_t beta = method.cross_gram_blocksize(name)) beta_[name] = beta;
  }
  bool any() const { return !beta_.empty(); }
  // Records the input of `name` for the stream being run (q-stream first, then fp-stream).
  void observe(const std::string& name, const at::Tensor& x, bool fp_stream) {
    if (!beta_.count(name)) return;
    (fp_stream ? x_fp_ : x_q_)[name] = x.reshape({-1, x.size(-1)}).to(at::kFloat);
  }
  // After both forwards of one sequence: C += X_J^T Xhat_J / n for every block J.
  void accumulate() {
    for (auto& [name, beta] : beta_) {
      at::Tensor X = x_fp_.at(name), Xq = x_q_.at(name);
      const int64_t L = X.size(0), d = X.size(1);
      if (d % beta != 0) fail(name, "input dimension " + std::to_string(d) + " is not a multiple of " + std::to_string(beta));
      at::Tensor Xb = X.view({L, d / beta, beta}).permute({1, 2, 0});    // [nb, beta, L]
      at::Tensor Xqb = Xq.view({L, d / beta, beta}).permute({1, 0, 2});  // [nb, L, beta]
      at::Tensor prod = at::bmm(Xb, Xqb) / double(n_);
      auto it = C_.find(name);
      if (it == C_.end()) C_.emplace(name, prod);
      else it->second.add_(prod);
    }
    x_q_.clear(), x_fp_.clear();
  }
  at::Tensor get(const std::string& name) const {
    auto it = C_.find(name);
    return it == C_.end() ? at::Tensor() : it->second;
  }

 private:
  int64_t n_;
  std::map<std::string, int64_t> beta_;
  std::map<std::string, at::Tensor> x_q_, x_fp_, C_;
};

// methods.md §23: per block, the quantized block's output on the q-stream against the FP block on
// the same inputs (activation-conditioned) and against the FP stream (true output): mse, mean
// token cosine, and the token-similarity (TS = N(Y) N(Y)^T) mse.
class BlockDiagnostics {
 public:
  void add(const at::Tensor& yq, const at::Tensor& yac, const at::Tensor& yfp) {
    at::Tensor q = yq.reshape({-1, yq.size(-1)}).to(at::kFloat);
    auto one = [&](const at::Tensor& y_in, double* acc) {
      at::Tensor y = y_in.reshape({-1, y_in.size(-1)}).to(at::kFloat);
      acc[0] += (q - y).square().mean().item<double>();
      acc[1] += at::cosine_similarity(q, y, 1).mean().item<double>();
      auto unit = [](const at::Tensor& t) { return t / t.norm(2, {1}, true).clamp_min(1e-12); };
      at::Tensor nq = unit(q), ny = unit(y);
      acc[2] += (nq.matmul(nq.t()) - ny.matmul(ny.t())).square().mean().item<double>();
    };
    one(yac, ac_);
    if (yfp.defined()) one(yfp, out_);
    ++count_;
  }
  nlohmann::json json() const {
    auto avg = [&](const double* a) {
      return nlohmann::json{{"mse", a[0] / count_}, {"cos", a[1] / count_}, {"ts_mse", a[2] / count_}};
    };
    return {{"activation_conditioned", avg(ac_)}, {"output", avg(out_)}};
  }

 private:
  double ac_[3] = {0, 0, 0}, out_[3] = {0, 0, 0};
  int64_t count_ = 0;
};

}  // namespace

nlohmann::json run_quantize(const QuantizeOptions& o) {
  c10::NoGradGuard no_grad;
  const auto t_start = clock_type::now();
  // Everything that can be checked cheaply is checked before the slow work starts, the outputs
  // first: --out is then locked for the whole run, and its staging directory exists from here on.
  const std::vector<NamedPath> inputs = {{"--model", o.model_dir}, {"--calib-file", o.calib_file},
                                         {"--config", o.config_file}, {"--data-dir", o.calib_file.empty() ? o.data_dir : ""}};
  if (!o.diagnostics.empty()) check_output_file(o.diagnostics, "--diagnostics", inputs, o.out);
  const OutputClaim claim(o.out, o.overwrite, inputs);
  const MethodInfo& info = find_method(o.method);
  Params params = resolve_params(o, info);
  const model::FamilyTable& family = model::family_table(io::ModelConfig::load(o.model_dir).model_type);
  auto method = info.make(params, quant::ModelContext{family.final_fc});
  if (o.format != "packed" && o.format != "fake-quant") fail("--format", "expected packed or fake-quant, got \"" + o.format + "\"");
  if (pack::is_packed(o.model_dir)) fail(o.model_dir, "is already a packed 1-bit checkpoint; quantize its source model");
  if (o.nsamples <= 0) fail("--nsamples", "must be positive");
  if (o.seqlen < 2) fail("--seqlen", "must be at least 2");

  text::CalibrationSet calib = calibration(o);
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
  text::check_token_ids(calib.windows, m->config().vocab_size, calib.source);
  bool fp_stream = !o.diagnostics.empty();
  for (auto& [name, lin] : m->block_module(0).linears()) fp_stream |= method->cross_gram_blocksize(name) > 0;
  reset_peak_device_memory(dev);

  // The q-stream (inputs of the current block in the quantized model) and, when needed, the
  // fp-stream (the same in the full-precision model), one sequence per row, in the model dtype.
  auto stream = [&] { return at::empty({n, L, m->config().hidden_size}, at::TensorOptions().dtype(lo.dtype).device(dev)); };
  at::Tensor inps = stream(), outs = stream(), fp_inps, fp_outs;
  for (int64_t s = 0; s < n; ++s) {
    check_interrupt();
    at::Tensor ids = at::tensor(calib.windows[s], at::kInt).to(at::kLong).unsqueeze(0).to(dev);
    inps[s].copy_(m->embed(ids)[0]);
  }
  if (fp_stream) fp_inps = inps.clone(), fp_outs = stream();

  int64_t total_linears = 0;
  for (int64_t b = 0; b < m->num_blocks(); ++b) total_linears += m->block_module(b).linears().size();
  Progress bar("quantize " + o.method, total_linears, o.progress);
  std::map<std::string, at::Tensor> quantized;           // fake-quant: the host copies of the new weights
  std::map<std::string, pack::PackedLinear> packed;      // packed: what each layer stores
  nlohmann::json layers = nlohmann::json::array(), blocks = nlohmann::json::array();
  double weighted_bits = 0, weights = 0;

  for (int64_t b = 0; b < m->num_blocks(); ++b) {
    const auto t_block = clock_type::now();
    model::Block& blk = m->block_module(b);
    blk.to(dev);
    // 1. capture: statistics of every linear from the unquantized block, one sequence per forward;
    //    the same forwards give Y_ac = F(Xhat) (into outs) and advance the fp-stream.
    StatsCollector stats(m->family(), dev);
    CrossGrams cross(*method, blk, n);
    model::LinearObserver obs_q = [&](const std::string& name, const at::Tensor& x) {
      stats.observe(name, x);
      cross.observe(name, x, false);
    };
    model::LinearObserver obs_fp = [&](const std::string& name, const at::Tensor& x) { cross.observe(name, x, true); };
    for (int64_t s = 0; s < n; ++s) {
      check_interrupt();
      outs[s].copy_(blk.forward(inps.narrow(0, s, 1), &obs_q)[0]);
      stats.end_sequence();
      if (fp_stream) {
        fp_outs[s].copy_(blk.forward(fp_inps.narrow(0, s, 1), cross.any() ? &obs_fp : nullptr)[0]);
        if (cross.any()) cross.accumulate();
      }
    }
    // 2. quantize every linear (statistics are frozen, so order does not matter) ...
    auto quantize_linear = [&](const std::string& name, model::Linear* lin, const StatsCollector& st, const CrossGrams& cg) {
      check_interrupt();
      const std::string full = m->block_prefix(b) + name;
      auto t0 = clock_type::now();
      const HessianAccumulator& h = st.get(name);
      LinearResult r = method->quantize(full, lin->weight, LinearStats{h.H(), h.count(), cg.get(name), lin->weight});
      at::Tensor W_new = r.W_hat.to(lin->weight.scalar_type());
      double rel_err = ((W_new.to(at::kFloat) - lin->weight.to(at::kFloat)).norm() / lin->weight.to(at::kFloat).norm()).item<double>();
      lin->weight.copy_(W_new);
      const double ms = since(t0) * 1000;
      r.stats["layer"] = full;
      r.stats["shape"] = lin->weight.sizes().vec();
      r.stats["weight_rel_error"] = rel_err;
      if (!r.packed.empty()) r.stats["bits_per_weight_stored"] = double(r.packed.stored_bytes()) * 8 / double(lin->weight.numel());
      if (o.format == "packed") {
        if (r.packed.empty()) fail(full, "method " + o.method + " with these parameters has no packed layout; use --format fake-quant");
        packed[full] = std::move(r.packed);
      }
      r.stats["ms"] = ms;
      if (r.stats.contains("bits_per_weight")) {
        weighted_bits += r.stats["bits_per_weight"].get<double>() * double(lin->weight.numel());
        weights += double(lin->weight.numel());
      }
      OB1Q_INFO("%-40s %5lldx%-5lld rel.err %.4f loss %.4g %.0f ms", full.c_str(), (long long)lin->weight.size(0),
                (long long)lin->weight.size(1), rel_err, r.stats.value("loss", 0.0), ms);
      layers.push_back(r.stats);
      bar.advance(1, full);
    };
    std::map<std::string, at::Tensor> fp_weights;  // only when some linear is re-captured
    for (auto& [name, lin] : blk.linears())
      if (method->recapture(name)) fp_weights[name] = at::Tensor();
    if (!fp_weights.empty())
      for (auto& [name, lin] : blk.linears()) fp_weights[name] = lin->weight.clone();
    for (auto& [name, lin] : blk.linears())
      if (!method->recapture(name)) quantize_linear(name, lin, stats, cross);
    // ... and those whose inputs are re-captured from the partially quantized block: X_hat from the
    // block as it is now, X from the FP block (original weights swapped in) on the fp-stream.
    if (!fp_weights.empty()) {
      StatsCollector stats2(m->family(), dev);
      CrossGrams cross2(*method, blk, n);
      model::LinearObserver obs_q2 = [&](const std::string& name, const at::Tensor& x) {
        if (method->recapture(name)) stats2.observe(name, x), cross2.observe(name, x, false);
      };
      model::LinearObserver obs_fp2 = [&](const std::string& name, const at::Tensor& x) { cross2.observe(name, x, true); };
      auto swap_weights = [&] {
        for (auto& [name, lin] : blk.linears()) std::swap(lin->weight, fp_weights.at(name));
      };
      for (int64_t s = 0; s < n; ++s) {
        check_interrupt();
        blk.forward(inps.narrow(0, s, 1), &obs_q2);
        stats2.end_sequence();
        if (cross2.any()) {
          swap_weights();
          blk.forward(fp_inps.narrow(0, s, 1), &obs_fp2);
          swap_weights();
          cross2.accumulate();
        }
      }
      for (auto& [name, lin] : blk.linears())
        if (method->recapture(name)) quantize_linear(name, lin, stats2, cross2);
    }
    // 3. propagate the q-stream through the quantized block (and measure it against the FP block)
    BlockDiagnostics diag;
    for (int64_t s = 0; s < n; ++s) {
      check_interrupt();
      at::Tensor y = blk.forward(inps.narrow(0, s, 1))[0];
      if (!o.diagnostics.empty()) diag.add(y, outs[s], fp_outs[s]);
      outs[s].copy_(y);
    }
    if (!at::isfinite(outs).all().item<bool>())
      fail(m->block_prefix(b), "quantized block produced NaN/Inf activations");
    std::swap(inps, outs);
    if (fp_stream) std::swap(fp_inps, fp_outs);
    blk.to(c10::Device(c10::kCPU));
    if (o.format == "fake-quant")
      for (auto& [name, lin] : blk.linears()) quantized[m->block_prefix(b) + name + ".weight"] = lin->weight;  // host copies, no duplicate
    nlohmann::json bj = {{"block", b}, {"seconds", since(t_block)}};
    if (!o.diagnostics.empty()) bj["diagnostics"] = diag.json();
    blocks.push_back(bj);
  }
  bar.finish();

  const double seconds = since(t_start);
  const int64_t peak = peak_device_memory(dev);
  nlohmann::json report = {
      {"tool", {{"name", "ob1q"}, {"version", OB1Q_VERSION}}},
      {"format", o.format},
      {"source_model", o.model_dir},
      {"method", o.method},
      {"params", params.json()},
      {"calibration",
       {{"source", calib.source}, {"source_sha256", calib.source_sha256}, {"nsamples", n}, {"seqlen", L},
        {"seed", o.seed}, {"windows_sha256", calib.windows_sha256}}},
      {"device", dev.str()},
      {"dtype", io::float_dtype_name(lo.dtype)},
      {"fp_stream", fp_stream},
      {"seconds", seconds},
      {"peak_device_memory_bytes", peak},
      {"bits_per_weight", weights > 0 ? nlohmann::json(weighted_bits / weights) : nlohmann::json()},
      {"blocks", blocks},
      {"layers", layers}};
  if (o.format == "packed") {
    nlohmann::json run = {{"tool", report["tool"]}, {"method", o.method}, {"params", report["params"]},
                          {"calibration", report["calibration"]}, {"bits_per_weight", report["bits_per_weight"]}};
    pack::write_packed(o.out, o.model_dir, packed, run, report, o.overwrite, o.shard_bytes);
  } else {
    write_fake_quant(o.out, o.model_dir, quantized, report, o.overwrite);
  }
  // After the checkpoint: failing to write the diagnostics must not cost the run.
  if (!o.diagnostics.empty()) write_file_atomic(o.diagnostics, report.dump(2) + "\n");
  const std::string where = peak >= 0 ? std::to_string(peak / (1 << 20)) + " MiB peak device memory" : "host";
  OB1Q_INFO("quantized %zu linears in %s (%s); wrote %s", layers.size(), format_duration(seconds).c_str(), where.c_str(),
            o.out.c_str());
  return report;
}

}  // namespace ob1q::quant
