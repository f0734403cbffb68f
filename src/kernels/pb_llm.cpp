// The pb-llm layout as a PackedMatrix: the checkpoint's sign and high bitmaps re-padded to
// 32-bit words per row, the compact list of high-bit codes with a start offset per row, scales
// as stored. Decode runs a warp-per-row CUDA kernel; everything else dequantizes on the fly.
#include <ATen/ATen.h>

#include <vector>

#include "ob1q/common/error.hpp"
#include "ob1q/kernels/packed_matrix.hpp"
#include "ops.hpp"
#include "resident_matrix.hpp"

namespace ob1q::kernels {

namespace {

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

class PbLlmMatrix : public ResidentMatrix {
 public:
  PbLlmMatrix(const PbLlmStored& st, c10::Device dev) : ResidentMatrix(dev, st.rows, st.cols, st.round_to) {
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
      const at::Tensor rows = z.select(1, 1).contiguous(), cols = z.select(1, 2).contiguous();
      const at::Tensor coef = st.alpha.to(at::kFloat).cpu().index_select(0, rows).contiguous();
      set_corrections(std::vector<int64_t>(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel()),
                      std::vector<int64_t>(cols.data_ptr<int64_t>(), cols.data_ptr<int64_t>() + cols.numel()),
                      std::vector<float>(coef.data_ptr<float>(), coef.data_ptr<float>() + coef.numel()));
    }
  }

  std::string layout() const override { return "pb-llm"; }

  at::Tensor linear_emulated(const at::Tensor& x, const at::Tensor& bias, at::ScalarType) const override {
    return linear(x.to(at::kFloat), bias.defined() ? bias.to(at::kFloat) : bias);
  }

  at::Tensor decode(const at::Tensor& x2, const at::Tensor& bias) const override {
    return cuda::pb_gemv(v_, x2, bias, round_to_);
  }
  at::Tensor cpu_rows(int64_t r0, int64_t r1) const override { return cpu::pb_dense_rows(v_, zero_rc_, round_to_, r0, r1); }
  void cuda_dense(at::Tensor& out) const override { cuda::pb_dense(v_, zero_rc_, round_to_, out); }
  std::vector<const at::Tensor*> own_tensors() const override {
    return {&sign_, &high_, &codes_, &row_begin_, &alpha_, &mu_, &scale_, &zero_, &zero_rc_};
  }

 private:
  PbView v_;
  at::Tensor sign_, high_, codes_, row_begin_, alpha_, mu_, scale_, zero_;
  at::Tensor zero_rc_;
};

}  // namespace

std::shared_ptr<PackedMatrix> make_pb_llm(const PbLlmStored& stored, c10::Device device) {
  return std::make_shared<PbLlmMatrix>(stored, device);
}

}  // namespace ob1q::kernels
