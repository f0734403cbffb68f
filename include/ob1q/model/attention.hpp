// Causal self-attention and rotary embeddings shared by the model families.
#pragma once
#include <ATen/core/Tensor.h>

#include "ob1q/io/config.hpp"

namespace ob1q::model {

// q: [B, Hq, T, D], k/v: [B, Hkv, T, D] (Hq a multiple of Hkv). Softmax in fp32, as HF's eager
// path; uses the fused scaled-dot-product kernel where the LibTorch build has it (>= 2.0).
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// Attention of q [B, Hq, T, D] over keys/values [B, Hkv, L, D] where query i may see the keys
// `visible` [T, L] marks (bool, true = visible); undefined `visible` = every key visible.
at::Tensor masked_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                            const at::Tensor& visible);

// Rotary embedding tables cos/sin [T, D] in fp32, HF's inv_freq rules incl. llama3 scaling.
struct Rope {
  at::Tensor cos, sin;
};
Rope rope_tables(const io::RopeConfig& rope, int64_t head_dim, int64_t seq_len, c10::Device device);
// Applying them: kernels::rope (ob1q/kernels/fused.hpp), x [B, T, H, D] at explicit positions.

}  // namespace ob1q::model
