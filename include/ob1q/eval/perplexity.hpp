// Perplexity over a token stream, methods.md §21: non-overlapping windows of `seqlen` tokens
// (tail dropped), each evaluated from position 0 with a causal mask; loss = mean cross-entropy of
// the seqlen-1 next-token predictions of a window; ppl = exp(mean over windows).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "ob1q/model/decoder.hpp"

namespace ob1q::eval {

struct PplOptions {
  int64_t seqlen = 2048;
  int64_t limit_windows = 0;  // 0 = all
  int64_t batch_size = 0;     // windows per forward; 0 = automatic (memory-bounded on GPU, 1 on CPU)
  std::function<void(int64_t windows_done)> on_progress;
};

struct PplResult {
  double ppl = 0;
  int64_t windows = 0;
  int64_t tokens = 0;  // tokens in the evaluated windows
  double seconds = 0;
  std::vector<double> window_loss;  // mean CE per window
};

PplResult perplexity(const model::DecoderModel& m, const std::vector<int32_t>& ids, const PplOptions& opts);

}  // namespace ob1q::eval
