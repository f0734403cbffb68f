#include "ob1q/io/weight_source.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"

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

DType from_scalar_type(at::ScalarType t, const std::string& where) {
  switch (t) {
    case at::kBool: return DType::BOOL;
    case at::kByte: return DType::U8;
    case at::kChar: return DType::I8;
    case at::kShort: return DType::I16;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kInt: return DType::I32;
    case at::kFloat: return DType::F32;
    case at::kLong: return DType::I64;
    case at::kDouble: return DType::F64;
    default: fail(where, "tensor dtype has no safetensors equivalent");
  }
}

namespace {
std::map<std::string, WeightOpener>& openers() {
  static std::map<std::string, WeightOpener> m;
  return m;
}
std::mutex openers_mutex;

}  // namespace

const std::vector<std::string>& companion_files() {
  static const std::vector<std::string> names = {
      "config.json",       "generation_config.json", "tokenizer.model",         "tokenizer.json",
      "tokenizer.json.gz", "tokenizer_config.json",  "special_tokens_map.json", "added_tokens.json",
      "vocab.json",        "merges.txt"};
  return names;
}

void register_weight_format(const std::string& quant_method, WeightOpener opener) {
  std::lock_guard<std::mutex> lock(openers_mutex);
  openers()[quant_method] = std::move(opener);
}

std::string quant_method_of(const std::string& dir) {
  const std::string path = path_join(dir, "config.json");
  if (!file_exists(path)) return "";
  nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("quantization_config") || !j["quantization_config"].is_object()) return "";
  const auto& q = j["quantization_config"];
  return q.contains("quant_method") && q["quant_method"].is_string() ? q["quant_method"].get<std::string>() : "?";
}

std::shared_ptr<WeightSource> open_weights(const std::string& dir) {
  refuse_unfinished_output(dir);
  const std::string method = quant_method_of(dir);
  if (method.empty()) return CheckpointWeights::open(dir);
  WeightOpener opener;
  {
    std::lock_guard<std::mutex> lock(openers_mutex);
    auto it = openers().find(method);
    if (it != openers().end()) opener = it->second;
  }
  if (!opener)
    fail(dir, "is quantized with quant_method \"" + method +
                  "\"; ob1q reads plain checkpoints and its own packed format (quant_method \"ob1q\")");
  return opener(dir);
}

void copy_companions(const std::string& source_dir, const std::string& dest, bool with_config) {
  for (const std::string& name : companion_files()) {
    if (!with_config && name == "config.json") continue;
    const std::string src = path_join(source_dir, name);
    if (file_exists(src)) copy_file(src, path_join(dest, name));
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
