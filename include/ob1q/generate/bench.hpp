// `ob1q bench`: prefill and decode speed and resident weight memory of a model as loaded, and,
// for a packed checkpoint, of the same model dequantized to dense weights in the same run.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "ob1q/model/decoder.hpp"

namespace ob1q::generate {

struct BenchOptions {
  std::string model_dir;
  model::LoadOptions load;
  int64_t prompt_tokens = 128;  // prompt before the decode runs
  int64_t prefill_tokens = 0;   // prompt of the prefill measurement (0 = prompt_tokens)
  int64_t gen_tokens = 256;
  int64_t batch = 1;
  int64_t repeat = 3;       // timed runs; the median is reported
  bool compare_dense = false;
  bool cuda_graph = true;
  uint64_t seed = 0;        // of the random prompt ids
};

// {"model", "device", "dtype", "variants": [{"weights": "packed"|"dense", "weights_bytes",
//  "linear_weights_bytes", "prefill_tokens_per_s", "decode_tokens_per_s", "decode_gb_per_s",
//  "graph", ...}], ...}
nlohmann::json run_bench(const BenchOptions& o);

}  // namespace ob1q::generate
