// Text generation over any DecoderModel (dense or packed linears): prefill the prompt into a
// KV cache, then decode one token per step -- on CUDA by replaying a captured graph of the
// whole decode step, since at batch 1 launch overhead would otherwise dominate.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "ob1q/model/decoder.hpp"

namespace ob1q::generate {

struct Sampling {
  double temperature = 0.0;  // 0 = greedy (argmax)
  double top_p = 1.0;        // nucleus: smallest set of tokens whose probability reaches top_p
  uint64_t seed = 0;
};

struct Options {
  int64_t max_new_tokens = 64;
  Sampling sampling;
  bool stop_at_eos = true;
  int32_t eos_id = -1;       // -1: none
  bool cuda_graph = true;    // replay decode steps from a CUDA graph (CUDA devices only)
  bool use_cache = true;     // false: recompute the whole sequence at every step (the reference)
  // Called with each new token of the first sequence as soon as it is known (streaming).
  std::function<void(int32_t)> on_token;
  // Record, for each token of the first sequence, the gap between its two largest logits (to tell
  // a near tie from a real difference when two runs diverge). Costs a device sync per token.
  bool record_margins = false;
};

struct Result {
  std::vector<std::vector<int32_t>> tokens;  // per sequence: the new tokens
  int64_t prefill_tokens = 0, decode_tokens = 0;  // over all sequences
  double prefill_seconds = 0, decode_seconds = 0;
  bool graph = false;  // decode ran from a CUDA graph
  std::vector<double> margins;  // Options::record_margins: top-1 minus top-2 logit per token
  double prefill_tokens_per_s() const { return prefill_seconds > 0 ? double(prefill_tokens) / prefill_seconds : 0; }
  double decode_tokens_per_s() const { return decode_seconds > 0 ? double(decode_tokens) / decode_seconds : 0; }
};

// `prompts`: one or more sequences of the same length (batch). Throws ob1q::Error when the
// prompt plus max_new_tokens exceeds the model's positions.
Result generate(const model::DecoderModel& m, const std::vector<std::vector<int32_t>>& prompts, const Options& o);

// Picks the next token of each row of logits [B, V] (greedy or sampled), on the logits' device.
class Sampler {
 public:
  explicit Sampler(const Sampling& s);
  at::Tensor next(const at::Tensor& logits);  // int64 [B]

 private:
  Sampling s_;
  uint64_t state_;
  double uniform();
};

}  // namespace ob1q::generate

#include <string>

#include <nlohmann/json.hpp>

namespace ob1q::generate {

// `ob1q generate`: loads the model and its tokenizer, generates from `prompt`, streams the text
// through on_text as it is produced, and returns the JSON record (text, token_ids,
// prefill_tokens_per_s, decode_tokens_per_s, weights_bytes, ...).
struct TextRun {
  std::string model_dir;
  model::LoadOptions load;
  std::string prompt;
  Options gen;
  std::function<void(const std::string&)> on_text;
};
nlohmann::json generate_text(const TextRun& run);

}  // namespace ob1q::generate
