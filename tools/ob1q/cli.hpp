// Shared pieces of the ob1q command line: global options, defaults, output.
#pragma once
// CLI11's path validators (unused here) would import the C++17 filesystem library, which crashes
// on PyTorch's LibTorch (common/paths.hpp says why): their stat()-based fallback instead.
#define CLI11_HAS_FILESYSTEM 0
#include <CLI/CLI.hpp>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace ob1q::cli {

struct GlobalOptions {
  std::string device;  // "" = cuda when available, else cpu
  std::string dtype;   // "" = checkpoint dtype on cuda, fp32 on cpu
  int threads = 0;
  std::string log_level = "info";
  std::string json;    // results file; "-" = stdout
};

// Adds --device/--dtype/--threads/--log-level/--json to a subcommand.
void add_global_options(CLI::App& cmd, GlobalOptions& g);
// Applies logging and thread settings.
void apply(const GlobalOptions& g);

// What every model-running subcommand resolves the same way: apply(g), the embedded defaults for
// an empty model/data directory, device, compute dtype, and progress (off when --json is stdout).
struct RunContext {
  std::string& model_dir;
  std::string& data_dir;
  c10::Device& device;
  at::ScalarType& dtype;
  bool& progress;
};
void resolve_run(const GlobalOptions& g, const RunContext& run);
c10::Device resolve_device(const std::string& spec);
// The compute dtype: explicit --dtype, else the checkpoint's dtype on cuda, fp32 on cpu.
at::ScalarType resolve_dtype(const std::string& spec, const std::string& model_dir, c10::Device device);

// Embedded defaults: $OB1Q_MODEL / $OB1Q_DATA, else ../shared/models/llama-s and ../shared/data
// (next to the source tree or the working directory), else the demo model the project builds.
std::string default_model();
std::string default_data_dir();

// Writes the JSON document atomically to `path` ("-" = stdout).
void write_json(const std::string& path, const nlohmann::json& j);

using Subcommand = std::function<void(CLI::App&)>;
void register_eval(CLI::App& app);
void register_demo(CLI::App& app);
void register_quantize(CLI::App& app);
void register_inspect(CLI::App& app);
void register_export(CLI::App& app);
void register_generate(CLI::App& app);
void register_bench(CLI::App& app);

// --weights packed|dense: how a packed checkpoint's quantized linears are held (LoadOptions::packed).
void add_weights_option(CLI::App& cmd, bool& packed);

}  // namespace ob1q::cli
