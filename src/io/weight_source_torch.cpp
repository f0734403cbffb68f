#include "ob1q/io/weight_source.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "ob1q/common/error.hpp"

namespace ob1q::io {

at::ScalarType to_scalar_type(DType d, const std::string& where) {
  switch (d) {
    case DType::BOOL: return at::kBool;
    case DType::U8: return at::kByte;
    case DType::I8: return at::kChar;
    case DType::I16: return at::kShort;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I32: return at::kInt;
    case DType::F32: return at::kFloat;
    case DType::I64: return at::kLong;
    case DType::F64: return at::kDouble;
    default: fail(where, std::string("dtype ") + dtype_name(d) + " has no LibTorch equivalent");
  }
}

at::ScalarType parse_float_dtype(const std::string& s) {
  if (s == "fp32" || s == "float32" || s == "float") return at::kFloat;
  if (s == "fp16" || s == "float16" || s == "half") return at::kHalf;
  if (s == "bf16" || s == "bfloat16") return at::kBFloat16;
  fail("--dtype", "unknown dtype \"" + s + "\" (expected fp32, fp16 or bf16)");
}

const char* float_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "fp32";
    case at::kHalf: return "fp16";
    case at::kBFloat16: return "bf16";
    default: return "other";
  }
}

std::shared_ptr<CheckpointWeights> CheckpointWeights::open(const std::string& dir) {
  return std::make_shared<CheckpointWeights>(Checkpoint::open(dir));
}

std::vector<int64_t> CheckpointWeights::shape(const std::string& name) const {
  return ckpt_->get(name).info->shape;
}

at::Tensor CheckpointWeights::load(const std::string& name, at::ScalarType dtype, c10::Device device) const {
  auto ref = ckpt_->get(name);
  const TensorInfo& info = *ref.info;
  at::ScalarType src = to_scalar_type(info.dtype, ref.file->path() + ": tensor " + name);
  // Copy out of the mapping (its data is not guaranteed to be aligned), then convert. Only this
  // one tensor is ever held twice.
  at::Tensor t = at::empty(info.shape, at::TensorOptions().dtype(src));
  if (info.nbytes) std::memcpy(t.data_ptr(), ref.file->data(info), info.nbytes);
  if (device.is_cuda()) return t.to(device, dtype);
  return src == dtype ? t : t.to(dtype);
}

}  // namespace ob1q::io
