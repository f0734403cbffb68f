#include "ob1q/model/attention.hpp"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <cmath>

namespace ob1q::model {

namespace {

// [B, Hkv, T, D] -> [B, Hkv*rep, T, D], each kv head repeated for its group of query heads.
at::Tensor repeat_kv(const at::Tensor& x, int64_t rep) {
  if (rep == 1) return x;
  auto s = x.sizes();
  return x.unsqueeze(2).expand({s[0], s[1], rep, s[2], s[3]}).reshape({s[0], s[1] * rep, s[2], s[3]});
}

}  // namespace

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const int64_t rep = q.size(1) / k.size(1);
  at::Tensor kk = repeat_kv(k, rep), vv = repeat_kv(v, rep);
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
  // Fused kernel (flash / memory-efficient on CUDA). On the CPU in fp32 its result matches the
  // explicit path below to rounding; the explicit path remains the reference for LibTorch 1.x.
  return at::scaled_dot_product_attention(q, kk, vv, {}, 0.0, /*is_causal=*/true, scale);
#else
  const int64_t T = q.size(2);
  at::Tensor scores = at::matmul(q, kk.transpose(-1, -2)) * scale;
  at::Tensor mask = at::ones({T, T}, q.options().dtype(at::kBool)).triu(1);
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  at::Tensor p = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(p, vv);
#endif
}

at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                            const at::Tensor& visible) {
  const int64_t rep = q.size(1) / k.size(1);
  at::Tensor kk = repeat_kv(k, rep), vv = repeat_kv(v, rep);
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
  return at::scaled_dot_product_attention(q, kk, vv, visible.defined() ? c10::optional<at::Tensor>(visible) : c10::nullopt,
                                          0.0, /*is_causal=*/false, scale);
#else
  at::Tensor scores = at::matmul(q, kk.transpose(-1, -2)) * scale;
  if (visible.defined()) scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<float>::infinity());
  at::Tensor p = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(p, vv);
#endif
}

at::Tensor softcapped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                const at::Tensor& visible, double cap) {
  if (cap <= 0) return masked_attention(q, k, v, scale, visible);
  const int64_t rep = q.size(1) / k.size(1);
  at::Tensor kk = repeat_kv(k, rep), vv = repeat_kv(v, rep);
  at::Tensor scores = at::tanh(at::matmul(q, kk.transpose(-1, -2)) * scale / cap) * cap;
  if (visible.defined()) scores = scores.masked_fill(visible.logical_not(), -std::numeric_limits<float>::infinity());
  at::Tensor p = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());
  return at::matmul(p, vv);
}

at::Tensor window_visible(int64_t T, int64_t window, c10::Device device) {
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor d = at::arange(T, opts).unsqueeze(1) - at::arange(T, opts).unsqueeze(0);  // i - j
  return d.ge(0).logical_and(d.lt(window));
}

at::Tensor restrict_to_window(const at::Tensor& visible, const at::Tensor& pos, int64_t L, int64_t window) {
  at::Tensor in_window = at::arange(L, pos.options()).unsqueeze(0).gt(pos.unsqueeze(1) - window);  // [T, L]
  return visible.defined() ? visible.logical_and(in_window) : in_window;
}

Rope rope_tables(const io::RopeConfig& rope, int64_t head_dim, int64_t seq_len, c10::Device device) {
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  // HF: inv_freq = 1 / theta^(arange(0, D, 2) / D), all in fp32.
  at::Tensor exponent = at::arange(0, head_dim, 2, f32.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(at::scalar_tensor(rope.theta, f32), exponent);
  if (rope.type == "linear") {
    inv_freq = inv_freq / rope.factor;
  } else if (rope.type == "llama3") {
    const double old_ctx = static_cast<double>(rope.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rope.low_freq_factor;
    const double high_wavelen = old_ctx / rope.high_freq_factor;
    at::Tensor wavelen = 2 * M_PI / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rope.factor, inv_freq);
    at::Tensor smooth = (old_ctx / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
    at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv_freq = at::where(medium, smoothed, scaled);
  }
  at::Tensor pos = at::arange(seq_len, f32.dtype(at::kLong)).to(at::kFloat);
  at::Tensor freqs = at::outer(pos, inv_freq);  // [T, D/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);  // [T, D]
  return {emb.cos(), emb.sin()};
}

Rope RopeCache::get(int64_t seq_len) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t have = tables_.cos.defined() ? tables_.cos.size(0) : 0;
  if (have < seq_len) tables_ = rope_tables(rope_, head_dim_, std::max(seq_len, 2 * have), device_);
  return tables_;
}

at::Tensor apply_rope_at(const at::Tensor& x, const Rope& r, const at::Tensor& pos) {
  const int64_t half = x.size(3) / 2;
  at::Tensor cos = r.cos.index_select(0, pos).to(x.scalar_type());
  at::Tensor sin = r.sin.index_select(0, pos).to(x.scalar_type());
  at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

at::Tensor apply_rope(const at::Tensor& x, const Rope& r) {
  const int64_t T = x.size(2), half = x.size(3) / 2;
  at::Tensor cos = r.cos.narrow(0, 0, T).to(x.scalar_type());
  at::Tensor sin = r.sin.narrow(0, 0, T).to(x.scalar_type());
  at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace ob1q::model
