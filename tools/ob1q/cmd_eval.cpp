// ob1q eval: perplexity (WikiText-2, PTB, C4) with the BiLLM/ARB protocol (methods.md §21)
// and zero-shot accuracy with lm-evaluation-harness's protocol (§22).

#include <cstdio>
#include <sstream>

#include "cli.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/eval/ppl_suite.hpp"
#include "ob1q/eval/zeroshot.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/text/tasks.hpp"

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

void print_tasks(const nlohmann::json& r) {
  std::printf("%-16s %7s %8s %8s %9s %10s %9s\n", "task", "docs", "acc", "±", "acc_norm", "ppl", "seconds");
  for (auto& [name, v] : r["results"].items()) {
    auto num = [&](const char* k, const char* fmt) {
      static char buf[32];
      if (!v.contains(k)) return std::string("-");
      std::snprintf(buf, sizeof buf, fmt, v[k].get<double>());
      return std::string(buf);
    };
    std::printf("%-16s %7lld %8s %8s %9s %10s %9.1f\n", name.c_str(),
                (long long)r["n-samples"][name]["effective"].get<int64_t>(), num("acc,none", "%.4f").c_str(),
                num("acc_stderr,none", "%.4f").c_str(), num("acc_norm,none", "%.4f").c_str(),
                num("perplexity,none", "%.3f").c_str(), r["seconds"][name].get<double>());
  }
  for (auto& [k, v] : r["averages"].items())
    if (v.is_number()) std::printf("average %-8s %.4f (%s)\n", k.c_str(), v.get<double>(), r["averages"]["metric"].get<std::string>().c_str());
}

}  // namespace

void register_eval(CLI::App& app) {
  struct State {
    GlobalOptions g;
    eval::PplSuiteOptions o;
    std::string ppl = "wikitext2";
    std::string variant = "billm";
    eval::ZeroShotOptions z;
    std::string tasks;
  };
  auto st = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure perplexity (WikiText-2, PTB, C4) and zero-shot accuracy of a checkpoint (HF or packed)");
  cmd->add_option("--model", st->o.model_dir, "HF checkpoint directory (default: $OB1Q_MODEL, ../shared/models/llama-s, or the demo model)");
  cmd->add_option("--ppl", st->ppl, "comma-separated datasets: wikitext2, ptb, c4, or NAME=PATH (default wikitext2 unless --tasks is given)");
  cmd->add_option("--tasks", st->tasks,
                  "comma-separated zero-shot tasks (lm-evaluation-harness 0-shot): arc_easy, arc_challenge, piqa, boolq, "
                  "hellaswag, winogrande, openbookqa, lambada_openai, or NAME=FILE for your own copy; 'all' = the eight");
  cmd->add_option("--limit", st->z.limit, "zero-shot: only the first N documents of each task")->check(CLI::NonNegativeNumber);
  cmd->add_option("--qa-metric", st->z.qa_metric, "zero-shot averages use acc, or acc_norm where a task has it")
      ->capture_default_str()->check(CLI::IsMember({"acc", "acc_norm"}));
  cmd->add_option("--batch-tokens", st->z.batch_tokens, "zero-shot: padded tokens per forward (0 = automatic)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--dump-requests", st->z.dump_requests, "zero-shot: write every request (text, token ids, log-likelihood) as JSONL");
  cmd->add_option("--data-dir", st->o.data_dir, "where the standard files live (default: $OB1Q_DATA or ../shared/data)");
  cmd->add_option("--seqlen", st->o.seqlen, "tokens per window")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--limit-windows", st->o.limit_windows, "evaluate only the first N windows (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", st->o.batch_size,
                  "windows per forward pass; with --tasks also the most requests per forward (0 = automatic)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--ppl-variant", st->variant, "billm (BiLLM/ARB/GPTQ-new streams) or gptq (GPTQ's original ptb/c4)")
      ->capture_default_str()->check(CLI::IsMember({"billm", "gptq"}));
  cmd->add_option("--parse-special", st->o.parse_special,
                  "special-token text in the data (\"<unk>\" in PTB): auto = ordinary text for SentencePiece "
                  "vocabularies, parsed for byte-level BPE (the reference streams); on; off")
      ->capture_default_str()->check(CLI::IsMember({"auto", "on", "off"}));
  add_weights_option(*cmd, st->o.load.packed);
  add_global_options(*cmd, st->g);
  cmd->callback([st, cmd] {
    auto& o = st->o;
    resolve_run(st->g, {o.model_dir, o.data_dir, o.load.device, o.load.dtype, o.progress});
    const bool want_ppl = cmd->count("--ppl") > 0 || st->tasks.empty();
    o.datasets = split_csv(st->ppl);
    o.variant = text::parse_ppl_variant(st->variant);
    auto& z = st->z;
    z.model_dir = o.model_dir, z.data_dir = o.data_dir, z.load = o.load, z.progress = o.progress;
    z.batch_size = o.batch_size;
    z.tasks = st->tasks == "all" ? text::known_tasks() : split_csv(st->tasks);
    // Every input is checked (the tasks read) before the slow model load; with both jobs the
    // model is loaded once for the two.
    std::vector<text::Task> tasks = eval::load_tasks(z);
    std::unique_ptr<model::DecoderModel> shared;
    if (want_ppl && !z.tasks.empty()) {
      for (const auto& d : o.datasets) text::resolve_ppl_dataset(d, o.data_dir, o.variant);
      shared = model::DecoderModel::load(o.model_dir, o.load);
      o.model = z.model = shared.get();
    }
    nlohmann::json r;
    if (want_ppl) r = eval::run_ppl_suite(o);
    if (!z.tasks.empty()) {
      const nlohmann::json zs = eval::run_zeroshot(z, std::move(tasks));  // named: a temporary would die before the loop
      for (auto& [k, v] : zs.items()) r[k] = v;
    }
    r["command"] = "eval";
    r["tool"] = {{"name", "ob1q"}, {"version", OB1Q_VERSION}};
    if (st->g.json != "-") {
      if (r.contains("ppl")) print_table(r);
      if (r.contains("results")) print_tasks(r);
    }
    write_json(st->g.json, r);
  });
}

}  // namespace ob1q::cli
