// ob1q export --dequantize: a packed checkpoint as a plain HF checkpoint that transformers,
// vLLM and lm-evaluation-harness load.
#include "cli.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/pack/checkpoint.hpp"

namespace ob1q::cli {

void register_export(CLI::App& app) {
  struct State {
    std::string dir, out, dtype, log_level = "info";
    bool dequantize = false, overwrite = false;
    double shard_mib = 2048;
  };
  auto st = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("export", "Convert a packed checkpoint to a plain HF checkpoint (--dequantize)");
  cmd->add_flag("--dequantize", st->dequantize, "write dequantized weights (the only export for now)")->required();
  cmd->add_option("dir", st->dir, "packed checkpoint directory")->required();
  cmd->add_option("--out", st->out, "output directory (written atomically)")->required();
  cmd->add_option("--dtype", st->dtype, "fp16|bf16|fp32 (default: the source checkpoint's dtype)");
  cmd->add_option("--shard-size", st->shard_mib, "MiB of tensor data per safetensors shard")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_flag("--overwrite", st->overwrite, "replace an existing output directory");
  cmd->add_option("--log-level", st->log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  cmd->callback([st] {
    log::set_level(st->log_level);
    const at::ScalarType asked = st->dtype.empty() ? at::ScalarType::Undefined : io::parse_float_dtype(st->dtype);
    const at::ScalarType dt =
        pack::export_dequantized(st->dir, st->out, asked, st->overwrite, uint64_t(st->shard_mib * (1 << 20)));
    OB1Q_INFO("exported %s -> %s (%s)", st->dir.c_str(), st->out.c_str(), io::float_dtype_name(dt));
  });
}

}  // namespace ob1q::cli
