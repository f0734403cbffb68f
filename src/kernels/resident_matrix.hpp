// What every resident layout shares: the choice between the decode kernel (CUDA, at most
// kMaxGemvRows rows of fp16/bf16 input) and dequantizing on the fly (CUDA: the layer at once;
// CPU: kRowChunk rows at a time), the sparse corrections of sign-zero weights the decode kernel
// cannot express, and the byte count. A layout supplies its decode kernel and its dense rows.
// Internal to src/kernels.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "ob1q/kernels/packed_matrix.hpp"

namespace ob1q::kernels {

class ResidentMatrix : public PackedMatrix {
 public:
  ResidentMatrix(c10::Device device, int64_t rows, int64_t cols, at::ScalarType round_to)
      : device_(device), rows_(rows), cols_(cols), round_to_(round_to) {}
  int64_t rows() const override { return rows_; }
  int64_t cols() const override { return cols_; }
  c10::Device device() const override { return device_; }
  int64_t resident_bytes() const override;
  at::Tensor linear(const at::Tensor& x, const at::Tensor& bias) const override;
  at::Tensor dense(at::ScalarType dtype) const override;

 protected:
  static constexpr int64_t kRowChunk = 256;  // CPU: rows dequantized at once
  // y [N, rows] for x2 [N, cols] (contiguous fp16/bf16 on the device, N <= kMaxGemvRows).
  virtual at::Tensor decode(const at::Tensor& x2, const at::Tensor& bias) const = 0;
  // CPU: rows [r0, r1) of the weight, fp32, rounded through round_to.
  virtual at::Tensor cpu_rows(int64_t r0, int64_t r1) const = 0;
  // CUDA: the whole weight into `out` [rows, cols].
  virtual void cuda_dense(at::Tensor& out) const = 0;
  // The layout's own resident tensors (the base adds the corrections).
  virtual std::vector<const at::Tensor*> own_tensors() const = 0;

  // Weights the decode kernel computes as coef * x[col] too little by (sign-zero entries):
  // y[:, row] += coef * x[:, col] afterwards.
  void set_corrections(const std::vector<int64_t>& rows, const std::vector<int64_t>& cols, const std::vector<float>& coef);
  void add_corrections(at::Tensor& y, const at::Tensor& x2) const;

  c10::Device device_;
  int64_t rows_, cols_;
  at::ScalarType round_to_;

 private:
  at::Tensor corr_rows_, corr_cols_, corr_coef_;
};

}  // namespace ob1q::kernels
