// Causal self-attention and rotary embeddings shared by the model families.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <mutex>

#include "ob1q/io/config.hpp"

namespace ob1q::model {

// q: [B, Hq, T, D], k/v: [B, Hkv, T, D] (Hq a multiple of Hkv). Softmax in fp32, as HF's eager
// path; uses the fused scaled-dot-product kernel where the LibTorch build has it (>= 2.0).
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// Attention of q [B, Hq, T, D] over keys/values [B, Hkv, L, D] where query i may see the keys
// `visible` [T, L] marks (bool, true = visible); undefined `visible` = every key visible.
at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                            const at::Tensor& visible);

// Masked attention with the scores capped first, cap * tanh(scores / cap), as Gemma-2 does before
// the mask (cap 0: none, then the same as masked_attention).
at::Tensor softcapped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                const at::Tensor& visible, double cap);

// Sliding windows (transformers' convention): query position i sees key position j when
// i - window < j <= i, i.e. at most `window` keys including itself. Both masks are bool, true =
// visible. Over a sequence of T positions: [T, T].
at::Tensor window_visible(int64_t T, int64_t window, c10::Device device);
// Restricts the visibility `visible` [T, L] of queries at positions `pos` (int64 [T]) over keys at
// positions 0..L-1 to the window; an undefined `visible` stands for every key.
at::Tensor restrict_to_window(const at::Tensor& visible, const at::Tensor& pos, int64_t L, int64_t window);

// Rotary embedding tables cos/sin [T, D] in fp32, HF's inv_freq rules incl. llama3 scaling.
struct Rope {
  at::Tensor cos, sin;
};
Rope rope_tables(const io::RopeConfig& rope, int64_t head_dim, int64_t seq_len, c10::Device device);
// Applying them: kernels::rope (ob1q/kernels/fused.hpp: x [B, T, H, D], one fused op on CUDA), or
// apply_rope / apply_rope_at below (x [B, H, T, D]).

// The tables a model's blocks share, built for the longest sequence seen so far (not for
// max_position_embeddings, which a config may set to millions) and grown on demand. Row p does not
// depend on the table length, so a grown table holds the same values for the same positions.
class RopeCache {
 public:
  RopeCache(const io::RopeConfig& rope, int64_t head_dim, c10::Device device)
      : rope_(rope), head_dim_(head_dim), device_(device) {}
  Rope get(int64_t seq_len) const;  // tables with at least seq_len rows

 private:
  io::RopeConfig rope_;
  int64_t head_dim_;
  c10::Device device_;
  mutable std::mutex mutex_;
  mutable Rope tables_;
};

// x: [B, H, T, D]; tables are cast to x's dtype first (as HF does).
at::Tensor apply_rope(const at::Tensor& x, const Rope& r);
// The same at explicit positions pos (int64 [T] on x's device).
at::Tensor apply_rope_at(const at::Tensor& x, const Rope& r, const at::Tensor& pos);

}  // namespace ob1q::model
