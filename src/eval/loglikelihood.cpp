#include "ob1q/eval/loglikelihood.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <numeric>

#include "ob1q/common/error.hpp"
#include "ob1q/common/interrupt.hpp"

namespace ob1q::eval {

std::vector<LlScore> score_requests(const model::DecoderModel& m, const std::vector<LlRequest>& requests,
                                    const LlOptions& opts) {
  c10::NoGradGuard no_grad;
  const int64_t max_len = opts.max_length > 0 ? opts.max_length : m.config().max_position_embeddings;
  const c10::Device dev = m.options().device;
  const int64_t budget = opts.batch_tokens > 0 ? opts.batch_tokens : (dev.is_cuda() ? 32768 : 2048);

  // The model input of each request: the last max_len+1 tokens of context+continuation, minus the
  // last one; the continuation's targets are the last `cont` tokens of that window.
  struct Item {
    std::vector<int64_t> full;
    int64_t cont = 0;
  };
  std::vector<Item> items(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const LlRequest& r = requests[i];
    if (r.continuation.empty()) fail("loglikelihood", "request " + std::to_string(i) + " has an empty continuation");
    std::vector<int64_t> full(r.context.begin(), r.context.end());
    full.insert(full.end(), r.continuation.begin(), r.continuation.end());
    if (int64_t(full.size()) > max_len + 1) full.erase(full.begin(), full.end() - (max_len + 1));
    items[i].cont = std::min<int64_t>(int64_t(r.continuation.size()), int64_t(full.size()) - 1);
    if (items[i].cont < 1) fail("loglikelihood", "request " + std::to_string(i) + " has no context token to condition on");
    items[i].full = std::move(full);
  }
  std::vector<size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return items[a].full.size() > items[b].full.size(); });

  std::vector<LlScore> out(items.size());
  int64_t done = 0;
  for (size_t k = 0; k < order.size();) {
    check_interrupt();
    const int64_t T = int64_t(items[order[k]].full.size()) - 1;  // the longest input of the batch
    int64_t B = std::max<int64_t>(1, std::min<int64_t>(int64_t(order.size() - k), budget / std::max<int64_t>(T, 1)));
    if (opts.batch_size > 0) B = std::min(B, opts.batch_size);
    at::Tensor x = at::zeros({B, T}, at::kLong);
    std::vector<int64_t> rows, pos, tgt;  // the continuation positions of the whole batch
    for (int64_t b = 0; b < B; ++b) {
      const Item& it = items[order[k + b]];
      const int64_t n = int64_t(it.full.size()) - 1;
      x[b].narrow(0, 0, n).copy_(at::tensor(std::vector<int64_t>(it.full.begin(), it.full.end() - 1), at::kLong));
      for (int64_t p = n - it.cont; p < n; ++p) {
        rows.push_back(b);
        pos.push_back(p);
        tgt.push_back(it.full[p + 1]);
      }
    }
    at::Tensor h = m.embed(x.to(dev));
    for (int64_t i = 0; i < m.num_blocks(); ++i) h = m.block(i, h);
    const at::Tensor r = at::tensor(rows, at::kLong).to(dev), p = at::tensor(pos, at::kLong).to(dev);
    at::Tensor logits = m.head(h.index({r, p}).unsqueeze(0))[0].to(at::kFloat);  // [N, V]
    at::Tensor lp = at::log_softmax(logits, -1);
    const at::Tensor t = at::tensor(tgt, at::kLong).to(dev);
    at::Tensor tok_lp = lp.gather(1, t.unsqueeze(1)).squeeze(1).to(at::kDouble).cpu();
    at::Tensor hit = (lp.argmax(1) == t).cpu();
    const double* lpp = tok_lp.data_ptr<double>();
    const bool* hp = hit.data_ptr<bool>();
    size_t j = 0;
    for (int64_t b = 0; b < B; ++b) {
      const Item& it = items[order[k + b]];
      LlScore s{0.0, true};
      for (int64_t c = 0; c < it.cont; ++c, ++j) {
        s.ll += lpp[j];
        s.greedy = s.greedy && hp[j];
      }
      if (!std::isfinite(s.ll)) fail("loglikelihood", "non-finite log-likelihood (NaN/Inf in the model output)");
      out[order[k + b]] = s;
    }
    k += B;
    done += B;
    if (opts.on_progress) opts.on_progress(done);
  }
  return out;
}

}  // namespace ob1q::eval
