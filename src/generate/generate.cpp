#include "ob1q/generate/generate.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>

#include "decode_graph.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/common/interrupt.hpp"
#include "ob1q/common/log.hpp"

namespace ob1q::generate {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

// Waits for the device so that host timers measure finished work.
void sync(const at::Tensor& t) {
  if (t.is_cuda()) (void)t.cpu();
}

}  // namespace

// ---- sampling ----------------------------------------------------------------------------------

Sampler::Sampler(const Sampling& s) : s_(s), state_(s.seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {
  if (!(s.temperature >= 0) || !std::isfinite(s.temperature)) fail("--temperature", "must be a finite number >= 0");
  if (!(s.top_p > 0 && s.top_p <= 1)) fail("--top-p", "must be in (0, 1]");
}

double Sampler::uniform() {
  // splitmix64: a reproducible stream for a seed on every platform.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return double(z >> 11) * (1.0 / 9007199254740992.0);
}

at::Tensor Sampler::next(const at::Tensor& logits) {
  const at::Tensor l = logits.to(at::kFloat);
  if (s_.temperature == 0) return l.argmax(-1);
  const at::Tensor probs = at::softmax(l / s_.temperature, -1);
  const auto sorted = probs.sort(-1, /*descending=*/true);
  const at::Tensor p = std::get<0>(sorted), idx = std::get<1>(sorted);
  const at::Tensor cum = p.cumsum(-1);
  // Keep the smallest prefix reaching top_p (the first token always).
  const at::Tensor keep = (cum - p) < s_.top_p;
  const at::Tensor kept = p * keep.to(p.scalar_type());
  const at::Tensor kcum = kept.cumsum(-1);
  std::vector<double> u(size_t(l.size(0)));
  for (auto& x : u) x = uniform();
  const at::Tensor target = at::tensor(u, at::kDouble).to(l.device(), at::kFloat).unsqueeze(1) * kcum.narrow(-1, kcum.size(-1) - 1, 1);
  const at::Tensor k = (kcum < target).sum(-1).clamp_max(l.size(-1) - 1);  // first index with cum >= target
  return idx.gather(-1, k.unsqueeze(1)).squeeze(1);
}

// ---- generation --------------------------------------------------------------------------------

Result generate(const model::DecoderModel& m, const std::vector<std::vector<int32_t>>& prompts, const Options& o) {
  c10::NoGradGuard no_grad;
  if (prompts.empty() || prompts[0].empty()) fail("generate", "the prompt is empty");
  const int64_t B = int64_t(prompts.size()), P = int64_t(prompts[0].size());
  for (const auto& p : prompts)
    if (int64_t(p.size()) != P) fail("generate", "all prompts of a batch must have the same length");
  if (o.max_new_tokens < 1) fail("--max-new-tokens", "must be at least 1");
  const int64_t capacity = P + o.max_new_tokens, max_pos = m.config().max_position_embeddings;
  if (capacity > max_pos)
    fail("generate", "the prompt (" + std::to_string(P) + " tokens) plus " + std::to_string(o.max_new_tokens) +
                         " new tokens exceeds the model's context of " + std::to_string(max_pos) + " positions");
  const c10::Device dev = m.options().device;
  const auto i64 = at::TensorOptions().dtype(at::kLong).device(dev);
  std::vector<int64_t> flat;
  for (const auto& p : prompts) flat.insert(flat.end(), p.begin(), p.end());
  const at::Tensor prompt = at::tensor(flat, at::kLong).view({B, P}).to(dev);

  Sampler sampler(o.sampling);
  Result r;
  r.tokens.assign(size_t(B), {});
  std::vector<bool> done(size_t(B), false);
  auto margin = [&](const at::Tensor& logits) {
    if (!o.record_margins) return;
    const at::Tensor top = std::get<0>(logits[0].to(at::kFloat).topk(2));
    r.margins.push_back((top[0] - top[1]).item<double>());
  };
  // Records the tokens of one step; true when every sequence has finished.
  auto take = [&](const at::Tensor& next) {
    check_interrupt();  // Ctrl-C ends generation between tokens
    const at::Tensor host = next.to(at::kCPU, at::kLong);
    bool all = true;
    for (int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      const int32_t t = int32_t(host[b].item<int64_t>());
      r.tokens[b].push_back(t);
      if (b == 0 && o.on_token) o.on_token(t);
      if (o.stop_at_eos && t == o.eos_id) done[b] = true;
      if (int64_t(r.tokens[b].size()) >= o.max_new_tokens) done[b] = true;
      all = all && done[b];
    }
    return all;
  };

  if (!o.use_cache) {  // reference: the whole sequence again at every step
    at::Tensor seq = prompt;
    auto t0 = clock_type::now();
    for (int64_t i = 0; i < o.max_new_tokens; ++i) {
      const at::Tensor logits = m.forward(seq).select(1, seq.size(1) - 1);
      margin(logits);
      const at::Tensor next = sampler.next(logits);
      if (take(next)) break;
      seq = at::cat({seq, next.unsqueeze(1)}, 1);
    }
    r.decode_seconds = seconds_since(t0);
    for (const auto& t : r.tokens) r.decode_tokens += int64_t(t.size());
    return r;
  }

  model::KVCache cache = m.new_cache(B, capacity);
  // Prefill: the prompt at positions [0, P).
  auto t0 = clock_type::now();
  model::Step pre;
  pre.start = 0;
  pre.pos = at::arange(P, i64);
  const at::Tensor first = m.forward_step(prompt, cache, pre, /*last_only=*/true).select(1, 0);
  margin(first);
  at::Tensor next = sampler.next(first);
  sync(next);
  r.prefill_seconds = seconds_since(t0);
  r.prefill_tokens = B * P;
  if (take(next) || o.max_new_tokens == 1) return r;

  // Decode: one token per step. The graph variant reads the token and its position from fixed
  // buffers and attends over the whole cache with a mask computed from the position.
  at::Tensor ids_buf = next.view({B, 1}).clone(), pos_buf = at::full({1}, P, i64);
  std::unique_ptr<DecodeGraph> graph;
  if (o.cuda_graph && dev.is_cuda()) {
    const at::Tensor key_pos = at::arange(capacity, i64);
    auto step = [&, key_pos]() {
      model::Step s;
      s.pos = pos_buf;
      s.visible = (key_pos <= pos_buf).view({1, capacity});
      return m.forward_step(ids_buf, cache, s, true).select(1, 0);
    };
    try {
      graph = capture_decode_graph(step, dev);
    } catch (const std::exception& e) {
      OB1Q_WARN("CUDA graph capture failed, decoding step by step: %s", e.what());
    }
    // The warm-up run of the capture wrote position P; it is written again below.
  }
  r.graph = graph != nullptr;
  int64_t steps = 0;
  t0 = clock_type::now();
  for (int64_t pos = P; pos < capacity - 1; ++pos) {
    at::Tensor logits;
    if (graph) {
      ids_buf.copy_(next.view({B, 1}));
      pos_buf.fill_(pos);
      logits = graph->replay();
    } else {
      model::Step s;
      s.start = pos;
      s.pos = at::full({1}, pos, i64);
      logits = m.forward_step(next.view({B, 1}), cache, s, true).select(1, 0);
    }
    margin(logits);
    next = sampler.next(logits);
    ++steps;
    if (take(next)) break;
  }
  sync(next);
  r.decode_seconds = seconds_since(t0);
  r.decode_tokens = B * steps;
  return r;
}

}  // namespace ob1q::generate
