// `ob1q eval --ppl ...` as one library call: load model + tokenizer, build each test stream,
// evaluate, return machine-readable results.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/eval/perplexity.hpp"
#include "ob1q/model/decoder.hpp"
#include "ob1q/text/datasets.hpp"

namespace ob1q::eval {

struct PplSuiteOptions {
  std::string model_dir;
  std::vector<std::string> datasets;  // NAME or NAME=PATH
  std::string data_dir;
  text::PplVariant variant = text::PplVariant::Billm;
  int64_t seqlen = 2048;
  int64_t limit_windows = 0;
  int64_t batch_size = 0;
  model::LoadOptions load;
  bool progress = true;
  std::string parse_special = "auto";  // auto | on | off (see Tokenizer::parses_special_in_corpora)
  const model::DecoderModel* model = nullptr;  // evaluate this already loaded model of model_dir
};

// Returns {"model":..., "device":..., "dtype":..., "seqlen":..., "variant":...,
//          "ppl": {name: {ppl, windows, tokens, tokens_total, ids_sha256, seconds, tokens_per_s,
//                         tokenize_seconds, file}}}.
nlohmann::json run_ppl_suite(const PplSuiteOptions& opts);

}  // namespace ob1q::eval
