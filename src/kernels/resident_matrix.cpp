#include "resident_matrix.hpp"

#include "ops.hpp"

namespace ob1q::kernels {

int64_t ResidentMatrix::resident_bytes() const {
  int64_t n = 0;
  std::vector<const at::Tensor*> ts = own_tensors();
  ts.insert(ts.end(), {&corr_rows_, &corr_cols_, &corr_coef_});
  for (const at::Tensor* t : ts)
    if (t->defined()) n += t->numel() * int64_t(t->element_size());
  return n;
}

at::Tensor ResidentMatrix::linear(const at::Tensor& x, const at::Tensor& bias) const {
  TORCH_CHECK(x.size(-1) == cols_, "packed linear: input has ", x.size(-1), " features, the weight ", cols_);
  std::vector<int64_t> out_shape = x.sizes().vec();
  out_shape.back() = rows_;
  const at::Tensor x2 = x.reshape({-1, cols_});
  const bool half = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
  if (device_.is_cuda() && half && x2.size(0) <= kMaxGemvRows && cuda::built()) {
    const at::Tensor xc = x2.contiguous();
    at::Tensor y = decode(xc, bias);
    add_corrections(y, xc);
    return y.view(out_shape);
  }
  // Dequantize and multiply, the bias inside the product as on the dense path: on CUDA the layer
  // at once (a transient the size of one layer), on the CPU a chunk of rows at a time.
  if (device_.is_cuda()) return at::linear(x2, dense(x.scalar_type()), bias).view(out_shape);
  std::vector<at::Tensor> parts;
  for (int64_t r = 0; r < rows_; r += kRowChunk) {
    const int64_t n = std::min(kRowChunk, rows_ - r);
    parts.push_back(at::linear(x2, cpu_rows(r, r + n).to(x.scalar_type()), bias.defined() ? bias.narrow(0, r, n) : bias));
  }
  return (parts.size() == 1 ? parts[0] : at::cat(parts, 1)).view(out_shape);
}

at::Tensor ResidentMatrix::dense(at::ScalarType dtype) const {
  if (!device_.is_cuda()) return cpu_rows(0, rows_).to(dtype);
  at::Tensor out = at::empty({rows_, cols_}, at::TensorOptions().dtype(dtype).device(device_));
  cuda_dense(out);
  return out;
}

void ResidentMatrix::set_corrections(const std::vector<int64_t>& rows, const std::vector<int64_t>& cols,
                                     const std::vector<float>& coef) {
  if (rows.empty()) return;
  corr_rows_ = at::tensor(at::ArrayRef<int64_t>(rows), at::kLong).to(device_);
  corr_cols_ = at::tensor(at::ArrayRef<int64_t>(cols), at::kLong).to(device_);
  corr_coef_ = at::tensor(at::ArrayRef<float>(coef), at::kFloat).to(device_);
}

void ResidentMatrix::add_corrections(at::Tensor& y, const at::Tensor& x2) const {
  if (!corr_rows_.defined()) return;
  y.index_add_(1, corr_rows_, (x2.index_select(1, corr_cols_).to(at::kFloat) * corr_coef_).to(y.scalar_type()));
}

}  // namespace ob1q::kernels
