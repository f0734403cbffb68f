// ob1q quantize: 1-bit PTQ of a HF checkpoint with one of the registered methods.
// Hyperparameter flags are generated from the method registry (every key of every method's
// defaults becomes --key-name), so --help always lists what the methods accept.

#include <set>

#include "cli.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/quant/method.hpp"
#include "ob1q/quant/pipeline.hpp"

namespace ob1q::cli {

namespace {

std::string flag_of(std::string key) {
  for (auto& c : key)
    if (c == '_') c = '-';
  return "--" + key;
}

}  // namespace

void register_quantize(CLI::App& app) {
  struct State {
    GlobalOptions g;
    quant::QuantizeOptions o;
    std::map<std::string, std::string> hp;  // param key -> value given on the command line
    bool no_cgb = false;
  };
  auto st = std::make_shared<State>();
  std::string methods;
  for (const auto& m : quant::registry()) methods += "\n    " + m.name + ": " + m.summary;
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a checkpoint to 1-bit weights (methods:" + methods +
                                                  ")\n§N in the option help = section N of docs/methods.md");
  cmd->add_option("--model", st->o.model_dir, "HF checkpoint directory (default: $OB1Q_MODEL, ../shared/models/llama-s, or the demo model)");
  std::vector<std::string> names;
  for (const auto& m : quant::registry()) names.push_back(m.name);
  cmd->add_option("--method", st->o.method, "quantization method")->capture_default_str()->check(CLI::IsMember(names));
  cmd->add_option("--config", st->o.config_file, "JSON preset of hyperparameters (configs/<method>.json); flags win");
  cmd->add_option("--calib", st->o.calib, "calibration source: c4 (C4 train shard 0 under --data-dir)")->capture_default_str();
  cmd->add_option("--calib-file", st->o.calib_file, "pre-sampled windows: JSON {\"windows\": [[ids]]} or raw int32 (see docs/calibration.md)");
  cmd->add_option("--data-dir", st->o.data_dir, "data directory (default: $OB1Q_DATA or ../shared/data)");
  cmd->add_option("--nsamples", st->o.nsamples, "calibration windows")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seqlen", st->o.seqlen, "tokens per window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--seed", st->o.seed, "calibration sampling seed (CPython random)")->capture_default_str();
  cmd->add_option("--out", st->o.out, "output directory (written atomically)")->required();
  cmd->add_option("--format", st->o.format,
                  "packed: the 1-bit checkpoint (docs/format.md; evaluate it with ob1q eval, convert with ob1q export); "
                  "fake-quant: dequantized weights in the source dtype (loads in transformers as is)")
      ->capture_default_str()->check(CLI::IsMember({"packed", "fake-quant"}));
  cmd->add_option_function<double>("--shard-size", [st](double mib) { st->o.shard_bytes = uint64_t(mib * (1 << 20)); },
                                   "packed: MiB of tensor data per safetensors shard (default 2048)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--overwrite", st->o.overwrite, "replace an existing output directory");
  cmd->add_option("--diagnostics", st->o.diagnostics,
                  "write per-block output error / cosine / token-similarity against the FP model "
                  "(docs/methods.md §23) to FILE");
  std::set<std::string> keys;
  for (const auto& m : quant::registry())
    for (auto& [k, v] : m.defaults.items()) keys.insert(k);
  for (const auto& k : keys) {
    std::string used_by;
    for (const auto& m : quant::registry())
      if (m.defaults.contains(k)) used_by += (used_by.empty() ? "" : ", ") + m.name + "=" + m.defaults[k].dump();
    auto h = quant::param_help().find(k);
    std::string text = h == quant::param_help().end() ? "hyperparameter" : h->second;
    cmd->add_option_function<std::string>(flag_of(k), [st, k](const std::string& v) { st->hp[k] = v; },
                                          text + " [" + used_by + "]");
  }
  cmd->add_flag("--no-cgb", st->no_cgb, "disable the column-group bitmap split of salient columns (= --cgb false)");
  add_global_options(*cmd, st->g);
  cmd->callback([st] {
    auto& o = st->o;
    resolve_run(st->g, {o.model_dir, o.data_dir, o.load.device, o.load.dtype, o.progress});
    if (st->no_cgb) st->hp["cgb"] = "false";
    const auto& info = quant::find_method(o.method);
    for (auto& [k, v] : st->hp) {
      if (!info.defaults.contains(k)) fail(flag_of(k), "is not a parameter of method " + o.method);
      o.overrides.emplace_back(k, v);
    }
    nlohmann::json r = quant::run_quantize(o);
    write_json(st->g.json, r);
  });
}

}  // namespace ob1q::cli
