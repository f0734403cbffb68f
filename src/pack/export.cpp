// `ob1q export --dequantize`: the packed checkpoint as a plain Hugging Face checkpoint.
#include <ATen/ATen.h>

#include <cstring>
#include <set>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/output_dir.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/pack/checkpoint.hpp"

namespace ob1q::pack {

namespace {
const char* hf_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default: return "float32";
  }
}
}  // namespace

at::ScalarType export_dequantized(const std::string& dir, const std::string& out, at::ScalarType dtype, bool overwrite,
                                  uint64_t shard_bytes) {
  const OutputClaim claim(out, overwrite, {{"the input checkpoint", dir}});  // before reading anything
  refuse_unfinished_output(dir);
  if (!is_packed(dir)) fail(dir, "is not an ob1q packed checkpoint (config.json has no quantization_config for ob1q)");
  auto w = PackedWeights::open(dir);
  if (dtype == at::ScalarType::Undefined) dtype = w->dequant_dtype();
  StagingDir stage(out, overwrite);
  io::copy_companions(dir, stage.path(), /*with_config=*/false);

  std::set<std::string> names;  // the plain checkpoint's tensors
  for (const auto& name : w->checkpoint().names())
    if (!w->is_packed_part(name)) names.insert(name);
  for (const auto& [key, m] : w->modules()) names.insert(key);

  io::SafetensorsWriter sw;
  for (const auto& name : names) {
    at::ScalarType target = dtype;
    if (!w->modules().count(name)) {
      const at::ScalarType stored = io::to_scalar_type(w->checkpoint().get(name).info->dtype, name);
      if (!at::isFloatingType(stored)) target = stored;  // integer buffers keep their dtype
    }
    sw.add_lazy(name, io::from_scalar_type(target, name), w->shape(name), [w, name, target](void* dst) {
      at::Tensor t = w->load(name, target, c10::Device(c10::kCPU)).contiguous();
      std::memcpy(dst, t.data_ptr(), t.numel() * t.element_size());
    });
  }
  sw.set_metadata("format", "pt");
  sw.write_sharded(stage.path(), shard_bytes);

  nlohmann::json config = nlohmann::json::parse(read_file(path_join(dir, "config.json")));
  config.erase("quantization_config");
  const char* dn = hf_dtype_name(dtype);
  if (config.contains("dtype") || !config.contains("torch_dtype")) config["dtype"] = dn;
  if (config.contains("torch_dtype")) config["torch_dtype"] = dn;
  write_file_atomic(stage.file("config.json"), config.dump(2) + "\n");
  stage.commit();
  return dtype;
}

}  // namespace ob1q::pack
