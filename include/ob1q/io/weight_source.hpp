// The weight-source interface: "give me tensor NAME as dtype D on device X". A plain HF
// checkpoint is one source; the packed 1-bit checkpoint (pack area) is another. Models read
// weights only through this, so they never know the storage format.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ob1q/io/safetensors.hpp"

namespace ob1q::kernels {
class PackedMatrix;
}

namespace ob1q::io {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual std::string location() const = 0;
  virtual bool has(const std::string& name) const = 0;
  virtual std::vector<int64_t> shape(const std::string& name) const = 0;
  // Materialises one tensor, converted to `dtype` on `device`. Never holds more than the one
  // tensor in an intermediate buffer.
  virtual at::Tensor load(const std::string& name, at::ScalarType dtype, c10::Device device) const = 0;
  // The weight `name` kept in its packed form on `device`, for sources that store it packed and
  // whose layout the kernels run; null otherwise (then load() gives the dense weight).
  virtual std::shared_ptr<kernels::PackedMatrix> load_packed(const std::string& name, c10::Device device) const {
    return nullptr;
  }
};

// Tensors of a safetensors checkpoint (single file or sharded), read from the memory mapping.
class CheckpointWeights : public WeightSource {
 public:
  explicit CheckpointWeights(std::shared_ptr<Checkpoint> ckpt) : ckpt_(std::move(ckpt)) {}
  static std::shared_ptr<CheckpointWeights> open(const std::string& dir);
  std::string location() const override { return ckpt_->location(); }
  bool has(const std::string& name) const override { return ckpt_->has(name); }
  std::vector<int64_t> shape(const std::string& name) const override;
  at::Tensor load(const std::string& name, at::ScalarType dtype, c10::Device device) const override;
  const Checkpoint& checkpoint() const { return *ckpt_; }

 private:
  std::shared_ptr<Checkpoint> ckpt_;
};

// The weights of a model directory. Plain safetensors checkpoints open as CheckpointWeights; a
// directory whose config.json names a quantization_config.quant_method opens with the reader
// registered for that method (the pack area registers "ob1q"), and any other method is refused
// with a message (io knows no quantization formats itself).
using WeightOpener = std::function<std::shared_ptr<WeightSource>(const std::string& dir)>;
void register_weight_format(const std::string& quant_method, WeightOpener opener);
std::shared_ptr<WeightSource> open_weights(const std::string& dir);
// config.json's quantization_config.quant_method, or "" when the checkpoint is not quantized.
std::string quant_method_of(const std::string& dir);

// Copies the files of a HF model directory that are not weights (tokenizer files, generation
// config; config.json too unless `with_config` is false) into `dest`.
void copy_companions(const std::string& source_dir, const std::string& dest, bool with_config = true);
// Those file names (config.json first).
const std::vector<std::string>& companion_files();

at::ScalarType to_scalar_type(DType d, const std::string& where);
DType from_scalar_type(at::ScalarType t, const std::string& where);
// "fp32"/"float32", "fp16"/"float16"/"half", "bf16"/"bfloat16".
at::ScalarType parse_float_dtype(const std::string& s);
const char* float_dtype_name(at::ScalarType t);  // "fp32" | "fp16" | "bf16"

}  // namespace ob1q::io
