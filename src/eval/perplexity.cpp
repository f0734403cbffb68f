#include "ob1q/eval/perplexity.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <chrono>
#include <cmath>

#include "ob1q/common/error.hpp"
#include "ob1q/common/interrupt.hpp"

namespace ob1q::eval {

namespace {

int64_t auto_batch(const model::DecoderModel& m, int64_t seqlen) {
  if (!m.options().device.is_cuda()) return 1;
  // Bound the fp32 logits of one forward (B x seqlen x vocab) to about 2 GiB.
  const double per_window = double(seqlen) * double(m.config().vocab_size) * 4.0;
  return std::max<int64_t>(1, std::min<int64_t>(16, int64_t((2.0 * (1 << 30)) / per_window)));
}

}  // namespace

PplResult perplexity(const model::DecoderModel& m, const std::vector<int32_t>& ids, const PplOptions& opts) {
  c10::NoGradGuard no_grad;
  const int64_t L = opts.seqlen;
  if (L < 2) fail("--seqlen", "must be at least 2");
  int64_t n = static_cast<int64_t>(ids.size()) / L;
  if (opts.limit_windows > 0) n = std::min(n, opts.limit_windows);
  if (n == 0) fail("perplexity", "token stream shorter than one window of " + std::to_string(L));
  const int64_t B = opts.batch_size > 0 ? opts.batch_size : auto_batch(m, L);
  const c10::Device dev = m.options().device;

  auto t0 = std::chrono::steady_clock::now();
  at::Tensor all = at::from_blob(const_cast<int32_t*>(ids.data()), {n * L}, at::kInt).to(at::kLong).view({n, L});
  PplResult r;
  r.window_loss.reserve(n);
  for (int64_t w = 0; w < n; w += B) {
    check_interrupt();
    const int64_t b = std::min(B, n - w);
    at::Tensor x = all.narrow(0, w, b).to(dev);
    at::Tensor logits = m.forward(x);  // [b, L, V]
    // fp32 log-softmax whatever the compute dtype (HF upcasts logits for the loss too).
    at::Tensor lp = at::log_softmax(logits.narrow(1, 0, L - 1).to(at::kFloat), -1);
    at::Tensor nll = -lp.gather(-1, x.narrow(1, 1, L - 1).unsqueeze(-1)).squeeze(-1);  // [b, L-1]
    at::Tensor per_window = nll.to(at::kDouble).mean(1).cpu();
    for (int64_t i = 0; i < b; ++i) r.window_loss.push_back(per_window[i].item<double>());
    if (opts.on_progress) opts.on_progress(w + b);
  }
  double sum = 0;
  for (double l : r.window_loss) {
    if (!std::isfinite(l)) fail("perplexity", "non-finite loss in a window (NaN/Inf in the model output)");
    sum += l;
  }
  r.windows = n;
  r.tokens = n * L;
  r.ppl = std::exp(sum / double(n));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace ob1q::eval
