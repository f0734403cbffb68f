// `ob1q quantize` as one library call (methods.md §2): calibration windows -> embeddings ->
// for each decoder block { capture per-linear statistics on the q-stream, quantize every linear,
// propagate the q-stream through the quantized block } -> write the result atomically.
// Only the current block's weights and the calibration activations live on the device.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/model/decoder.hpp"

namespace ob1q::quant {

struct QuantizeOptions {
  std::string model_dir;
  std::string method = "arb-rc";
  std::string config_file;                                       // JSON preset (optional)
  std::vector<std::pair<std::string, std::string>> overrides;    // --set key=value and dedicated flags
  std::string calib = "c4";                                      // c4 (data_dir) or a file of pre-sampled windows
  std::string data_dir;
  std::string calib_file;
  int64_t nsamples = 128;
  int64_t seqlen = 2048;
  uint64_t seed = 0;
  std::string out;
  std::string format = "packed";  // packed (docs/format.md) | fake-quant (dequantized weights, HF-loadable)
  uint64_t shard_bytes = 2ull << 30;  // packed: data bytes per safetensors shard
  bool overwrite = false;
  model::LoadOptions load;
  bool progress = true;
  std::string diagnostics;  // methods.md §23 per-block metrics (JSON file; implies the fp-stream)
};

// Returns the report that is also written as <out>/ob1q_report.json (both formats).
nlohmann::json run_quantize(const QuantizeOptions& opts);

}  // namespace ob1q::quant
