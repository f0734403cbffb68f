#include "cli.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>

#include "ob1q/common/log.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/output_dir.hpp"
#include "ob1q/io/config.hpp"
#include "ob1q/io/model_lookup.hpp"
#include "ob1q/io/weight_source.hpp"

#ifndef OB1Q_SOURCE_DIR
#define OB1Q_SOURCE_DIR "."
#endif

namespace ob1q::cli {

void add_global_options(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_option("--device", g.device, "cpu, cuda or cuda:N (default: cuda when available, else cpu)");
  cmd.add_option("--dtype", g.dtype, "compute dtype fp32|fp16|bf16 (default: the checkpoint's on cuda, fp32 on cpu)");
  cmd.add_option("--threads", g.threads, "CPU threads for LibTorch (default: all cores)");
  cmd.add_option("--log-level", g.log_level, "trace|debug|info|warn|error|off")->capture_default_str();
  cmd.add_option("--json", g.json, "write machine-readable results to FILE ('-' = stdout, logs stay on stderr)");
}

void add_weights_option(CLI::App& cmd, bool& packed) {
  cmd.add_option_function<std::string>(
         "--weights", [&packed](const std::string& v) { packed = v == "packed"; },
         "packed (default): a packed checkpoint's 1-bit linears stay packed in memory and run on the packed kernels; "
         "dense: they are dequantized to dense weights at load")
      ->check(CLI::IsMember({"packed", "dense"}));
}

void apply(const GlobalOptions& g) {
  log::set_level(g.log_level);
  if (g.threads > 0) at::set_num_threads(g.threads);
}

void resolve_run(const GlobalOptions& g, const RunContext& run) {
  apply(g);
  if (run.model_dir.empty()) run.model_dir = default_model();
  run.model_dir = io::resolve_model(run.model_dir);  // a directory, or a model in the local HF cache / $OB1Q_MODELS
  if (run.data_dir.empty()) run.data_dir = default_data_dir();
  refuse_unfinished_output(run.model_dir);  // before the tokenizer or the data are read
  run.device = resolve_device(g.device);
  run.dtype = resolve_dtype(g.dtype, run.model_dir, run.device);
  run.progress = g.json != "-";
  // Written at the end of the run: a path that cannot be written must fail now, not then.
  if (!g.json.empty() && g.json != "-")
    check_output_file(g.json, "--json", {{"--model", run.model_dir}, {"--data-dir", run.data_dir}});
}

c10::Device resolve_device(const std::string& spec) {
  if (spec.empty()) return at::hasCUDA() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device d(c10::kCPU);
  try {
    d = c10::Device(spec);
  } catch (const std::exception&) {
    fail("--device", "unknown device \"" + spec + "\" (expected cpu, cuda or cuda:N)");
  }
  if (d.is_cuda() && !at::hasCUDA()) fail("--device", spec + " requested but no CUDA device is available");
  if (!d.is_cpu() && !d.is_cuda()) fail("--device", "unsupported device \"" + spec + "\"");
  if (d.is_cuda() && !d.has_index()) d = c10::Device(c10::kCUDA, 0);
  return d;
}

at::ScalarType resolve_dtype(const std::string& spec, const std::string& model_dir, c10::Device device) {
  if (!spec.empty()) return io::parse_float_dtype(spec);
  if (!device.is_cuda()) return at::kFloat;
  std::string stored = io::ModelConfig::load(model_dir).dtype;
  return stored == "bfloat16" ? at::kBFloat16 : stored == "float32" ? at::kFloat : at::kHalf;
}

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

std::string first_existing_dir(const std::vector<std::string>& dirs) {
  for (const auto& d : dirs)
    if (dir_exists(d)) return d;
  return "";
}

}  // namespace

std::string default_model() {
  if (auto m = env("OB1Q_MODEL"); !m.empty()) return m;
  std::string shared = first_existing_dir({std::string(OB1Q_SOURCE_DIR) + "/../shared/models/llama-s", "../shared/models/llama-s"});
  if (!shared.empty()) return shared;
  return std::string(OB1Q_SOURCE_DIR) + "/demo/model";
}

std::string default_data_dir() {
  if (auto d = env("OB1Q_DATA"); !d.empty()) return d;
  std::string shared = first_existing_dir({std::string(OB1Q_SOURCE_DIR) + "/../shared/data", "../shared/data"});
  if (!shared.empty()) return shared;
  return std::string(OB1Q_SOURCE_DIR) + "/demo/data";
}

void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  std::string text = j.dump(2) + "\n";
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return;
  }
  write_file_atomic(path, text);
  OB1Q_INFO("wrote %s", path.c_str());
}

}  // namespace ob1q::cli
