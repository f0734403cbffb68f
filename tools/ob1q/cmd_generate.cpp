// ob1q generate: text from a prompt with a HF or packed checkpoint (KV cache; greedy or sampled),
// streamed to stdout as it is produced.
#include <cstdio>

#include "cli.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/generate/generate.hpp"

namespace ob1q::cli {

void register_generate(CLI::App& app) {
  struct State {
    GlobalOptions g;
    generate::TextRun run;
    std::string data_dir, prompt_file;
    bool no_graph = false, ignore_eos = false;
  };
  auto st = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt (HF or packed checkpoint; KV cache, CUDA graphs)");
  cmd->add_option("--model", st->run.model_dir, "checkpoint directory (default: $OB1Q_MODEL, ../shared/models/llama-s, or the demo model)");
  auto* p = cmd->add_option("--prompt", st->run.prompt, "prompt text");
  auto* pf = cmd->add_option("--prompt-file", st->prompt_file, "read the prompt from FILE");
  p->excludes(pf);
  cmd->add_option("--max-new-tokens", st->run.gen.max_new_tokens, "tokens to generate")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temperature", st->run.gen.sampling.temperature, "0 = greedy (argmax); > 0 samples from softmax(logits / T)")
      ->capture_default_str();
  cmd->add_option("--top-p", st->run.gen.sampling.top_p, "nucleus sampling: keep the smallest set of tokens reaching this probability")
      ->capture_default_str();
  cmd->add_option("--seed", st->run.gen.sampling.seed, "sampling seed (same seed, same tokens)")->capture_default_str();
  cmd->add_flag("--ignore-eos", st->ignore_eos, "keep generating after the end-of-sequence token");
  cmd->add_flag("--no-graph", st->no_graph, "decode step by step instead of replaying a CUDA graph");
  cmd->add_flag("--record-margins", st->run.gen.record_margins,
                "JSON: the gap between the two largest logits at every token (tells a near tie from a real difference)");
  add_weights_option(*cmd, st->run.load.packed);
  add_global_options(*cmd, st->g);
  cmd->callback([st] {
    bool progress = false;
    resolve_run(st->g, {st->run.model_dir, st->data_dir, st->run.load.device, st->run.load.dtype, progress});
    if (!st->prompt_file.empty()) st->run.prompt = read_file(st->prompt_file);
    if (st->run.prompt.empty()) fail("--prompt", "a prompt is required (--prompt TEXT or --prompt-file FILE)");
    st->run.gen.cuda_graph = !st->no_graph;
    st->run.gen.stop_at_eos = !st->ignore_eos;
    const bool to_stdout = st->g.json != "-";
    if (to_stdout)
      st->run.on_text = [](const std::string& t) {
        std::fwrite(t.data(), 1, t.size(), stdout);
        std::fflush(stdout);
      };
    nlohmann::json r = generate::generate_text(st->run);
    if (to_stdout) std::fputc('\n', stdout);
    std::fprintf(stderr, "prefill %.1f tokens/s, decode %.1f tokens/s, %zu tokens, weights %.1f MiB resident\n",
                 r["prefill_tokens_per_s"].get<double>(), r["decode_tokens_per_s"].get<double>(), r["token_ids"].size(),
                 r["weights_bytes"].get<double>() / (1 << 20));
    r["tool"] = {{"name", "ob1q"}, {"version", OB1Q_VERSION}};
    write_json(st->g.json, r);
  });
}

}  // namespace ob1q::cli
