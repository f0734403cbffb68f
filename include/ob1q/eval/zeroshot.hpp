// `ob1q eval --tasks ...` as one library call: zero-shot accuracy with lm-evaluation-harness's
// 0-shot protocol (methods.md §22) on any model directory (HF or packed).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/model/decoder.hpp"
#include "ob1q/text/tasks.hpp"

namespace ob1q::eval {

struct ZeroShotOptions {
  std::string model_dir;
  std::vector<std::string> tasks;  // NAME or NAME=FILE (a user's own copy, any supported format)
  std::string data_dir;
  int64_t limit = 0;               // first N documents of each task (0 = all)
  int64_t batch_tokens = 0;        // padded tokens per forward (0 = automatic)
  int64_t batch_size = 0;          // at most this many requests per forward (0 = as the token budget allows)
  std::string qa_metric = "acc";   // acc | acc_norm (acc_norm where the task has it) for the averages
  std::string dump_requests;       // JSONL of every request with its ids and score (reference checks)
  model::LoadOptions load;
  bool progress = true;
  const model::DecoderModel* model = nullptr;  // evaluate this already loaded model of model_dir
};

// Returns {"results": {task: {"alias", "acc,none", "acc_stderr,none", ...}}, "averages": {...},
// "n-samples": {task: {"original", "effective"}}, "seconds": {task: s}, "model", "device", "dtype"}.
nlohmann::json run_zeroshot(const ZeroShotOptions& opts);
// The same in two steps, so that callers can read (and check) the tasks before a slow model load.
std::vector<text::Task> load_tasks(const ZeroShotOptions& opts);
nlohmann::json run_zeroshot(const ZeroShotOptions& opts, std::vector<text::Task> tasks);

}  // namespace ob1q::eval
