// The packed 1-bit checkpoint on disk (docs/format.md): a Hugging Face-shaped directory whose
// config.json carries a quantization_config block, safetensors shards + index holding every
// source tensor except the quantized linears' weights, which are replaced by their packed
// tensors, and ob1q_manifest.json (run record + sha256 of every file).
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <mutex>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/io/config.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/pack/packed_linear.hpp"

namespace ob1q::pack {

constexpr int kFormatVersion = 1;
constexpr const char* kQuantMethod = "ob1q";
constexpr uint64_t kDefaultShardBytes = 2ull << 30;

// Writes the packed checkpoint atomically. `layers`: linear name (e.g.
// "model.layers.0.mlp.down_proj") -> its packed form; `run`: method, params, calibration, tool
// (copied into quantization_config and the manifest); `report`: the run report (ob1q_report.json).
void write_packed(const std::string& out, const std::string& source_dir, const std::map<std::string, PackedLinear>& layers,
                  const nlohmann::json& run, const nlohmann::json& report, bool overwrite,
                  uint64_t shard_bytes = kDefaultShardBytes);

// True when `dir`'s config.json declares an ob1q packed checkpoint (any format version).
bool is_packed(const std::string& dir);

// The packed checkpoint as a weight source: "<linear>.weight" of a quantized linear is
// dequantized on request (on the requested device, in fp32, rounded through the source
// checkpoint's dtype, then cast to the requested dtype); every other tensor is read as stored.
// Opening validates the format version and every packed tensor's presence, dtype and shape
// against the config, without reading tensor data.
class PackedWeights : public io::WeightSource {
 public:
  static std::shared_ptr<PackedWeights> open(const std::string& dir);
  std::string location() const override { return dir_; }
  bool has(const std::string& name) const override;
  std::vector<int64_t> shape(const std::string& name) const override;
  at::Tensor load(const std::string& name, at::ScalarType dtype, c10::Device device) const override;
  // A quantized linear's weight kept packed on `device` (kernels::PackedMatrix); null for other
  // tensors, and -- with one warning per layout -- for layouts the kernels do not run.
  std::shared_ptr<kernels::PackedMatrix> load_packed(const std::string& name, c10::Device device) const override;

  struct Module {
    std::string name;  // linear name, without ".weight"
    std::string layout_id;
    int64_t rows = 0, cols = 0;
    std::vector<std::string> parts;  // the stored tensors of its packed form ("<name>.sign", ...)
  };
  const std::map<std::string, Module>& modules() const { return modules_; }
  const nlohmann::json& quantization_config() const { return qcfg_; }
  const nlohmann::json& layout(const std::string& id) const { return qcfg_.at("layouts").at(id); }
  const io::Checkpoint& checkpoint() const { return *ckpt_; }
  at::ScalarType dequant_dtype() const { return dequant_dtype_; }
  // The stored tensor `name` as it is on disk (dtype kept), on the CPU.
  at::Tensor raw(const std::string& name) const;
  // True for stored tensors that are part of a module's packed form (not plain model tensors).
  bool is_packed_part(const std::string& name) const { return part_of_.count(name) > 0; }
  // A module's weight in fp32 on `device`, exactly as the quantizer produced it (before the
  // rounding to the source dtype).
  at::Tensor dequantize_fp32(const Module& m, c10::Device device) const;

 private:
  std::string dir_;
  std::shared_ptr<io::Checkpoint> ckpt_;
  std::shared_ptr<io::CheckpointWeights> stored_;  // the tensors as stored
  std::map<std::string, std::string> part_of_;     // packed tensor -> its module's key
  nlohmann::json qcfg_;
  std::map<std::string, Module> modules_;  // key: "<linear>.weight"
  at::ScalarType dequant_dtype_ = at::kHalf;
  mutable std::set<std::string> warned_;  // layouts already reported as running dense
  mutable std::mutex warned_mutex_;
};

// Registers PackedWeights with io::open_weights for quant_method "ob1q" (the CLI and the tests
// call it once at start-up; calling it again is harmless).
void register_format();

// `ob1q inspect`: layout, bits per weight (stored and the papers' accounting), sizes, manifest
// check. The result has "ok" and "problems" (empty when ok).
nlohmann::json inspect(const std::string& dir, bool verify_hashes);

// `ob1q export --dequantize`: a plain HF checkpoint (config without quantization_config, every
// tensor in `dtype`; Undefined = the source checkpoint's dequant dtype), written atomically, one
// tensor in memory at a time. The output is claimed (output_dir.hpp) before `dir` is read; it must
// not be, contain or lie inside `dir`. Returns the dtype written.
at::ScalarType export_dequantized(const std::string& dir, const std::string& out, at::ScalarType dtype, bool overwrite,
                                  uint64_t shard_bytes = kDefaultShardBytes);

}  // namespace ob1q::pack
