// Batched log-likelihood scoring of (context, continuation) token requests, the primitive of
// lm-evaluation-harness's loglikelihood requests (methods.md §22): the model reads
// (context + continuation)[:-1], left-truncated to its maximum length, and the log-probabilities
// of the continuation tokens are summed; greedy = each continuation token is the argmax.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "ob1q/model/decoder.hpp"

namespace ob1q::eval {

struct LlRequest {
  std::vector<int32_t> context, continuation;  // continuation must not be empty
};
struct LlScore {
  double ll = 0;
  bool greedy = false;
};

struct LlOptions {
  int64_t max_length = 0;    // 0 = the model's max_position_embeddings
  int64_t batch_tokens = 0;  // padded tokens per forward; 0 = automatic (device dependent)
  int64_t batch_size = 0;    // at most this many requests per forward; 0 = no limit
  std::function<void(int64_t done)> on_progress;
};

// Requests are grouped by length (longest first) and right-padded into batches: with causal
// attention, padding after a sequence does not change its logits. Only the continuation positions
// go through the head; log-softmax in fp32 whatever the compute dtype. Results in request order.
std::vector<LlScore> score_requests(const model::DecoderModel& m, const std::vector<LlRequest>& requests,
                                    const LlOptions& opts = {});

}  // namespace ob1q::eval
