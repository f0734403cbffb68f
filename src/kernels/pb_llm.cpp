// The pb-llm layout as a PackedMatrix: the checkpoint's sign and high bitmaps re-padded to
// 32-bit words per row, the compact list of high-bit codes with a start offset per row, scales
// as stored. Decode runs a warp-per-row CUDA kernel; everything else dequantizes on the fly.
#include <ATen/ATen.h>

#include <vector>

#include "ob1q/common/error.hpp"
#include "ob1q/kernels/packed_matrix.hpp"
#include "ops.hpp"

namespace ob1q::kernels {

namespace {

constexpr int64_t kRowChunk = 256;

// U8 [m, ceil(d/8)] LSB-first rows -> int32 [m, ceil(d/32)] words with the same bit order.
at::Tensor row_words(const at::Tensor& bytes, int64_t cols) {
  const int64_t m = bytes.size(0), words = (cols + 31) / 32;
  at::Tensor b = bytes.contiguous();
  if (b.size(1) < 4 * words) b = at::cat({b, at::zeros({m, 4 * words - b.size(1)}, b.options())}, 1);
  return b.view(at::kInt).contiguous();  // little endian: byte k = bits 8k..8k+7 of the word
}

int32_t scale_type(at::ScalarType t) {
  if (t == at::kHalf) return kScaleF16;
  if (t == at::kBFloat16) return kScaleBF16;
  if (t == at::kFloat) return kScaleF32;
  fail("packed weight", std::string("unsupported scale dtype ") + c10::toString(t));
}

class PbLlmMatrix : public PackedMatrix {
 public:
  PbLlmMatrix(const PbLlmStored& st, c10::Device dev) : device_(dev), round_to_(st.round_to) {
    v_.rows = st.rows, v_.cols = st.cols, v_.words = (st.cols + 31) / 32;
    sign_ = row_words(st.sign.cpu(), st.cols).to(dev);
    high_ = row_words(st.high.cpu(), st.cols);
    // Start of each row's codes: prefix sum of the high bits per row.
    const at::Tensor per_row = at::bitwise_and(high_.view(at::kByte).to(at::kInt).unsqueeze(-1).bitwise_right_shift(
                                                   at::arange(8, at::kInt)), 1).view({st.rows, -1}).sum(1);
    row_begin_ = at::cat({at::zeros({1}, at::kLong), per_row.cumsum(0)}).to(dev);
    high_ = high_.to(dev);
    codes_ = st.high_codes.contiguous().to(dev);
    const at::ScalarType sdt = st.alpha.scalar_type();
    alpha_ = st.alpha.contiguous().to(dev);
    mu_ = st.mu.to(sdt).contiguous().to(dev);
    scale_ = st.scale.to(sdt).contiguous().to(dev);
    zero_ = st.zero.contiguous().to(dev);
    v_.scale_type = scale_type(sdt);
    v_.sign = reinterpret_cast<const uint32_t*>(sign_.data_ptr<int32_t>());
    v_.high = reinterpret_cast<const uint32_t*>(high_.data_ptr<int32_t>());
    v_.codes = codes_.numel() ? codes_.data_ptr<uint8_t>() : nullptr;
    v_.row_begin = row_begin_.data_ptr<int64_t>();
    v_.alpha = alpha_.data_ptr(), v_.mu = mu_.data_ptr(), v_.scale = scale_.data_ptr();
    v_.zero = zero_.data_ptr<uint8_t>();
    if (st.sign_zero.defined() && st.sign_zero.size(0) > 0) {
      // Binarized weights whose sign is 0: W = mu. The GEMV kernel used sign -1 (-alpha * x).
      const at::Tensor z = st.sign_zero.to(at::kLong).cpu();
      zero_rc_ = z.narrow(1, 1, 2).contiguous().to(dev);
      corr_rows_ = z.select(1, 1).contiguous().to(dev);
      corr_cols_ = z.select(1, 2).contiguous().to(dev);
      corr_coef_ = st.alpha.to(at::kFloat).cpu().index_select(0, z.select(1, 1)).to(dev);
    }
  }

  int64_t rows() const override { return v_.rows; }
  int64_t cols() const override { return v_.cols; }
  std::string layout() const override { return "pb-llm"; }
  c10::Device device() const override { return device_; }

  int64_t resident_bytes() const override {
    int64_t n = 0;
    for (const at::Tensor* t : {&sign_, &high_, &codes_, &row_begin_, &alpha_, &mu_, &scale_, &zero_, &zero_rc_, &corr_rows_,
                                &corr_cols_, &corr_coef_})
      if (t->defined()) n += t->numel() * int64_t(t->element_size());
    return n;
  }

  at::Tensor linear(const at::Tensor& x, const at::Tensor& bias) const override {
    const int64_t d = v_.cols;
    TORCH_CHECK(x.size(-1) == d, "packed linear: input has ", x.size(-1), " features, the weight ", d);
    std::vector<int64_t> out_shape = x.sizes().vec();
    out_shape.back() = v_.rows;
    const at::Tensor x2 = x.reshape({-1, d});
    const bool half = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
    if (device_.is_cuda() && half && x2.size(0) <= kMaxGemvRows && cuda::built()) {
      const at::Tensor xc = x2.contiguous();
      at::Tensor y = cuda::pb_gemv(v_, xc, bias, round_to_);
      if (corr_rows_.defined()) y.index_add_(1, corr_rows_, (xc.index_select(1, corr_cols_).to(at::kFloat) * corr_coef_).to(y.scalar_type()));
      return y.view(out_shape);
    }
    at::Tensor y;
    if (device_.is_cuda()) {
      y = at::linear(x2, dense(x.scalar_type()), bias);  // bias in the product's epilogue, as the dense path
    } else {
      std::vector<at::Tensor> parts;
      for (int64_t r = 0; r < v_.rows; r += kRowChunk) {
        const int64_t n = std::min(kRowChunk, v_.rows - r);
        parts.push_back(at::linear(x2, cpu::pb_dense_rows(v_, zero_rc_, round_to_, r, r + n).to(x.scalar_type()),
                                   bias.defined() ? bias.narrow(0, r, n) : bias));
      }
      y = parts.size() == 1 ? parts[0] : at::cat(parts, 1);
    }
    return y.view(out_shape);
  }

  at::Tensor linear_emulated(const at::Tensor& x, const at::Tensor& bias, at::ScalarType) const override {
    return linear(x.to(at::kFloat), bias.defined() ? bias.to(at::kFloat) : bias);
  }

  at::Tensor dense(at::ScalarType dtype) const override {
    if (!device_.is_cuda()) return cpu::pb_dense_rows(v_, zero_rc_, round_to_, 0, v_.rows).to(dtype);
    at::Tensor out = at::empty({v_.rows, v_.cols}, at::TensorOptions().dtype(dtype).device(device_));
    cuda::pb_dense(v_, zero_rc_, round_to_, out);
    return out;
  }

 private:
  c10::Device device_;
  at::ScalarType round_to_;
  PbView v_;
  at::Tensor sign_, high_, codes_, row_begin_, alpha_, mu_, scale_, zero_;
  at::Tensor zero_rc_, corr_rows_, corr_cols_, corr_coef_;
};

}  // namespace

std::shared_ptr<PackedMatrix> make_pb_llm(const PbLlmStored& stored, c10::Device device) {
  return std::make_shared<PbLlmMatrix>(stored, device);
}

}  // namespace ob1q::kernels
