// ob1q eval: perplexity (WikiText-2, PTB, C4) with the BiLLM/ARB protocol (methods.md §5.4).

#include <cstdio>
#include <sstream>

#include "cli.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/eval/ppl_suite.hpp"
#include "ob1q/io/weight_source.hpp"

namespace ob1q::cli {

namespace {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void print_table(const nlohmann::json& r) {
  std::printf("%-10s %12s %8s %10s %12s\n", "dataset", "ppl", "windows", "tokens", "tokens/s");
  for (auto& [name, v] : r["ppl"].items())
    std::printf("%-10s %12.4f %8lld %10lld %12.0f\n", name.c_str(), v["ppl"].get<double>(),
                (long long)v["windows"].get<int64_t>(), (long long)v["tokens"].get<int64_t>(),
                v["tokens_per_s"].get<double>());
}

}  // namespace

void register_eval(CLI::App& app) {
  struct State {
    GlobalOptions g;
    eval::PplSuiteOptions o;
    std::string ppl = "wikitext2";
    std::string variant = "billm";
  };
  auto st = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure perplexity of a checkpoint (WikiText-2, PTB, C4)");
  cmd->add_option("--model", st->o.model_dir, "HF checkpoint directory (default: $OB1Q_MODEL, ../shared/models/llama-s, or the demo model)");
  cmd->add_option("--ppl", st->ppl, "comma-separated datasets: wikitext2, ptb, c4, or NAME=PATH")->capture_default_str();
  cmd->add_option("--data-dir", st->o.data_dir, "where the standard files live (default: $OB1Q_DATA or ../shared/data)");
  cmd->add_option("--seqlen", st->o.seqlen, "tokens per window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--limit-windows", st->o.limit_windows, "evaluate only the first N windows (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", st->o.batch_size, "windows per forward pass (0 = automatic)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--ppl-variant", st->variant, "billm (BiLLM/ARB/GPTQ-new streams) or gptq (GPTQ's original ptb/c4)")
      ->capture_default_str()->check(CLI::IsMember({"billm", "gptq"}));
  cmd->add_option("--parse-special", st->o.parse_special,
                  "special-token text in the data (\"<unk>\" in PTB): auto = ordinary text for SentencePiece "
                  "vocabularies, parsed for byte-level BPE (the reference streams); on; off")
      ->capture_default_str()->check(CLI::IsMember({"auto", "on", "off"}));
  add_global_options(*cmd, st->g);
  cmd->callback([st] {
    auto& o = st->o;
    resolve_run(st->g, {o.model_dir, o.data_dir, o.load.device, o.load.dtype, o.progress});
    o.datasets = split_csv(st->ppl);
    o.variant = text::parse_ppl_variant(st->variant);
    nlohmann::json r = eval::run_ppl_suite(o);
    r["command"] = "eval";
    r["tool"] = {{"name", "ob1q"}, {"version", OB1Q_VERSION}};
    if (st->g.json != "-") print_table(r);
    write_json(st->g.json, r);
  });
}

}  // namespace ob1q::cli
