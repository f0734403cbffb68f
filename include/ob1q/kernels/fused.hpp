// Elementwise steps of a decoder block fused into one op each, so that a decode step is a few
// launches per block instead of dozens (at batch 1 launch overhead, not bandwidth, dominates).
// Each op is the model's own arithmetic, rounding where HF's PyTorch code rounds: the CPU
// implementation is that sequence of LibTorch ops (the reference); on CUDA devices a fused
// kernel (src/kernels/cuda/fused.cu) computes the same.
#pragma once
#include <ATen/core/Tensor.h>

namespace ob1q::kernels {

// LLaMA RMSNorm: w * (x * rsqrt(mean(x^2) + eps) in fp32, cast to x's dtype), over the last dim.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
// silu(g) * u, each step rounded to the dtype (SwiGLU).
at::Tensor silu_mul(const at::Tensor& g, const at::Tensor& u);
// Rotary embedding of x [B, T, H, D] at positions pos (int64 [T]) from fp32 tables cos/sin
// [positions, D]: x * cos + rotate_half(x) * sin with the tables cast to x's dtype first.
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& pos);

}  // namespace ob1q::kernels
