// ob1q bench: prefill and decode tokens/s and resident weight memory of a model as loaded; with
// --compare-dense, the same packed model dequantized to dense weights, in the same run.
#include <cstdio>

#include "cli.hpp"
#include "ob1q/generate/bench.hpp"

namespace ob1q::cli {

namespace {

void print_table(const nlohmann::json& r) {
  std::printf("%s on %s (%s), batch %lld: prefill of %lld tokens; decode of %lld tokens after %lld\n",
              r["model"].get<std::string>().c_str(), r["device_name"].get<std::string>().c_str(),
              r["dtype"].get<std::string>().c_str(), (long long)r["batch"].get<int64_t>(),
              (long long)r["prefill_tokens"].get<int64_t>(), (long long)r["gen_tokens"].get<int64_t>(),
              (long long)r["prompt_tokens"].get<int64_t>());
  std::printf("%-8s %12s %12s %14s %14s %10s %8s\n", "weights", "MiB", "linears MiB", "prefill tok/s", "decode tok/s",
              "GB/s", "ratio");
  for (const auto& v : r["variants"])
    std::printf("%-8s %12.1f %12.1f %14.1f %14.1f %10.1f %8.2f\n", v["weights"].get<std::string>().c_str(),
                v["weights_bytes"].get<double>() / (1 << 20), v["linear_weights_bytes"].get<double>() / (1 << 20),
                v["prefill_tokens_per_s"].get<double>(), v["decode_tokens_per_s"].get<double>(),
                v["decode_gb_per_s"].get<double>(), v["decode_vs_last"].get<double>());
}

}  // namespace

void register_bench(CLI::App& app) {
  struct State {
    GlobalOptions g;
    generate::BenchOptions o;
    std::string data_dir;
    bool no_graph = false;
  };
  auto st = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("bench", "Prefill/decode speed and resident weight memory (packed vs dense with --compare-dense)");
  cmd->add_option("--model", st->o.model_dir, "checkpoint directory (default: $OB1Q_MODEL, ../shared/models/llama-s, or the demo model)");
  cmd->add_option("--prompt-tokens", st->o.prompt_tokens, "prompt length (random token ids)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--prefill-tokens", st->o.prefill_tokens, "prompt length of the prefill measurement (default: --prompt-tokens)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--gen-tokens", st->o.gen_tokens, "tokens generated per decode run")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--batch", st->o.batch, "sequences decoded together")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--repeat", st->o.repeat, "timed runs after one warm-up; the median is reported")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", st->o.seed, "seed of the random prompt")->capture_default_str();
  cmd->add_flag("--compare-dense", st->o.compare_dense, "also measure the same packed model dequantized to dense weights");
  cmd->add_flag("--no-graph", st->no_graph, "decode step by step instead of replaying a CUDA graph");
  add_weights_option(*cmd, st->o.load.packed);
  add_global_options(*cmd, st->g);
  cmd->callback([st] {
    bool progress = false;
    resolve_run(st->g, {st->o.model_dir, st->data_dir, st->o.load.device, st->o.load.dtype, progress});
    st->o.cuda_graph = !st->no_graph;
    nlohmann::json r = generate::run_bench(st->o);
    r["tool"] = {{"name", "ob1q"}, {"version", OB1Q_VERSION}};
    if (st->g.json != "-") print_table(r);
    write_json(st->g.json, r);
  });
}

}  // namespace ob1q::cli
