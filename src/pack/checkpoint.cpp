// Writer and reader of the packed checkpoint (docs/format.md).
#include "ob1q/pack/checkpoint.hpp"

#include <ATen/ATen.h>

#include <cstring>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/output_dir.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/common/log.hpp"
#include "ob1q/pack/resident.hpp"

namespace ob1q::pack {

namespace {

const char* kWeightSuffix = ".weight";

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("invalid JSON: ") + e.what());
  }
}

// The suffixes a layout stores (required ones first) -- what the reader checks at open.
std::vector<std::string> required_suffixes(const nlohmann::json& layout) {
  const std::string kind = layout.at("layout").get<std::string>();
  if (kind == "pb-llm") return {"sign", "high", "high_codes", "alpha", "mu", "scale", "zero", "weight_shape"};
  std::vector<std::string> r = {"sign", "sign2", "salient", "hi", "row_scale", "weight_shape"};
  const CodeLayout l = CodeLayout::from_json(layout, "layout");
  if (l.formula == Formula::Rc) r.push_back("col_scale");
  if (l.mean_slots() > 0) r.push_back("mean");
  return r;
}

}  // namespace

// ---- writer ------------------------------------------------------------------------------------

void write_packed(const std::string& out, const std::string& source_dir, const std::map<std::string, PackedLinear>& layers,
                  const nlohmann::json& run, const nlohmann::json& report, bool overwrite, uint64_t shard_bytes) {
  StagingDir stage(out, overwrite, {{"the source model", source_dir}});
  io::copy_companions(source_dir, stage.path(), /*with_config=*/false);
  nlohmann::json config = read_json(path_join(source_dir, "config.json"));
  const io::ModelConfig mc = io::ModelConfig::load(source_dir);

  // Layout specs, deduplicated: "L0", "L1", ... in order of first use.
  nlohmann::json layouts = nlohmann::json::object(), modules = nlohmann::json::object();
  std::vector<nlohmann::json> seen;
  for (const auto& [name, p] : layers) {
    if (p.empty()) fail(name, "this method/setting has no packed layout (use --format fake-quant)");
    nlohmann::json spec = p.spec;
    spec["layout"] = p.layout;
    size_t id = 0;
    while (id < seen.size() && seen[id] != spec) ++id;
    if (id == seen.size()) seen.push_back(spec);
    layouts["L" + std::to_string(id)] = spec;
    modules[name] = {{"layout", "L" + std::to_string(id)}, {"shape", {p.rows, p.cols}}};
  }

  auto ckpt = io::Checkpoint::open(source_dir);
  io::SafetensorsWriter w;
  size_t used = 0;
  for (const auto& name : ckpt->names()) {
    const std::string base = ends_with(name, kWeightSuffix) ? name.substr(0, name.size() - std::strlen(kWeightSuffix)) : "";
    auto it = base.empty() ? layers.end() : layers.find(base);
    if (it == layers.end()) {
      auto ref = ckpt->get(name);
      w.add_lazy(name, ref.info->dtype, ref.info->shape,
                 [ref](void* dst) { std::memcpy(dst, ref.file->data(*ref.info), ref.info->nbytes); });
      continue;
    }
    ++used;
    const auto shape = ckpt->get(name).info->shape;
    if (shape != std::vector<int64_t>{it->second.rows, it->second.cols}) fail(name, "packed layer shape differs from the source");
    for (const auto& [suffix, t] : it->second.tensors) {
      const at::Tensor c = t.contiguous();
      w.add_lazy(base + "." + suffix, io::from_scalar_type(c.scalar_type(), base + "." + suffix), c.sizes().vec(),
                 [c](void* dst) { std::memcpy(dst, c.data_ptr(), c.numel() * c.element_size()); });
    }
  }
  if (used != layers.size()) fail(source_dir, "some quantized layers have no weight in the source checkpoint");
  w.set_metadata("format", "pt");
  w.set_metadata("ob1q.format_version", std::to_string(kFormatVersion));
  const std::vector<std::string> shards = w.write_sharded(stage.path(), shard_bytes);

  nlohmann::json q = {{"quant_method", kQuantMethod},
                      {"format", "ob1q-packed"},
                      {"format_version", kFormatVersion},
                      {"bits", 1},
                      {"pack", {{"container", "U8"}, {"dim", "in"}, {"bit_order", "lsb_first"}, {"one_means", "+1"}}},
                      {"dequant_dtype", mc.dtype},
                      {"method", run.value("method", "")},
                      {"method_params", run.value("params", nlohmann::json::object())},
                      {"calibration", run.value("calibration", nlohmann::json::object())},
                      {"producer", run.value("tool", nlohmann::json::object())},
                      {"layouts", layouts},
                      {"modules", modules}};
  config["quantization_config"] = q;
  write_file_atomic(stage.file("config.json"), config.dump(2) + "\n");
  write_file_atomic(stage.file("ob1q_report.json"), report.dump(2) + "\n");

  // Manifest last: size and sha256 of every other file, as written (read back, streamed).
  nlohmann::json files = nlohmann::json::object();
  std::vector<std::string> names = shards;
  names.push_back("model.safetensors.index.json");
  names.push_back("ob1q_report.json");
  for (const auto& n : io::companion_files())
    if (file_exists(stage.file(n))) names.push_back(n);
  for (const auto& n : names) files[n] = {{"bytes", file_bytes(stage.file(n))}, {"sha256", sha256_file(stage.file(n))}};
  nlohmann::json manifest = {{"format", "ob1q-packed"}, {"format_version", kFormatVersion}, {"files", files},
                             {"run", run}, {"source_model", source_dir}};
  write_file_atomic(stage.file("ob1q_manifest.json"), manifest.dump(2) + "\n");
  stage.commit();
}

// ---- reader ------------------------------------------------------------------------------------

bool is_packed(const std::string& dir) { return io::quant_method_of(dir) == kQuantMethod; }

std::shared_ptr<PackedWeights> PackedWeights::open(const std::string& dir) {
  refuse_unfinished_output(dir);
  auto p = std::shared_ptr<PackedWeights>(new PackedWeights());
  p->dir_ = dir;
  const std::string cfg_path = path_join(dir, "config.json");
  nlohmann::json cfg = read_json(cfg_path);
  if (!cfg.contains("quantization_config") || !cfg["quantization_config"].is_object())
    fail(cfg_path, "has no quantization_config: not an ob1q packed checkpoint");
  p->qcfg_ = cfg["quantization_config"];
  const auto& q = p->qcfg_;
  if (q.value("quant_method", "") != kQuantMethod) fail(cfg_path, "quantization_config.quant_method is not \"ob1q\"");
  if (!q.contains("format_version") || !q["format_version"].is_number_integer())
    fail(cfg_path, "quantization_config has no integer format_version");
  const int version = q["format_version"].get<int>();
  if (version != kFormatVersion)
    fail(cfg_path, "packed format version " + std::to_string(version) + " is not supported by this ob1q (reads version " +
                       std::to_string(kFormatVersion) + ")" + (version > kFormatVersion ? "; upgrade ob1q" : ""));
  try {
    p->dequant_dtype_ = io::parse_float_dtype(q.at("dequant_dtype").get<std::string>());
    p->ckpt_ = io::Checkpoint::open(dir);
    for (auto& [name, m] : q.at("modules").items()) {
      Module mod{name, m.at("layout").get<std::string>(), m.at("shape").at(0).get<int64_t>(), m.at("shape").at(1).get<int64_t>(), {}};
      if (mod.rows <= 0 || mod.cols <= 0) fail(cfg_path, name + ": invalid shape");
      const nlohmann::json& layout = q.at("layouts").at(mod.layout_id);
      const std::string kind = layout.at("layout").get<std::string>();
      if (kind != "binary-blocks" && kind != "pb-llm") fail(cfg_path, "unknown layout \"" + kind + "\"");
      if (p->ckpt_->has(name + kWeightSuffix)) fail(dir, name + " is both packed and stored unpacked");
      for (const auto& suffix : required_suffixes(layout))
        if (!p->ckpt_->has(name + "." + suffix))
          fail(dir, "packed tensor " + name + "." + suffix + " is missing (truncated or inconsistent checkpoint)");
      const auto ws = p->ckpt_->get(name + ".weight_shape");
      if (ws.info->dtype != io::DType::I64 || ws.info->shape != std::vector<int64_t>{2})
        fail(dir, name + ".weight_shape must be I64 [2]");
      const int64_t* sh = static_cast<const int64_t*>(ws.file->data(*ws.info));
      int64_t stored[2];
      std::memcpy(stored, sh, sizeof stored);
      if (stored[0] != mod.rows || stored[1] != mod.cols) fail(dir, name + ".weight_shape disagrees with config.json");
      p->modules_[name + kWeightSuffix] = mod;
    }
  } catch (const nlohmann::json::exception& e) {
    fail(cfg_path, std::string("malformed quantization_config: ") + e.what());
  }
  // Which stored tensors belong to which module: "<module>.<suffix>" except the module's bias.
  for (const auto& t : p->ckpt_->names()) {
    const auto dot = t.rfind('.');
    if (dot == std::string::npos || t.compare(dot, std::string::npos, ".bias") == 0) continue;
    auto it = p->modules_.find(t.substr(0, dot) + kWeightSuffix);
    if (it == p->modules_.end()) continue;
    it->second.parts.push_back(t);
    p->part_of_[t] = it->first;
  }
  p->stored_ = std::make_shared<io::CheckpointWeights>(p->ckpt_);
  return p;
}

bool PackedWeights::has(const std::string& name) const { return modules_.count(name) || ckpt_->has(name); }

std::vector<int64_t> PackedWeights::shape(const std::string& name) const {
  auto it = modules_.find(name);
  if (it != modules_.end()) return {it->second.rows, it->second.cols};
  return ckpt_->get(name).info->shape;
}

at::Tensor PackedWeights::raw(const std::string& name) const {
  return stored_->load(name, io::to_scalar_type(ckpt_->get(name).info->dtype, name), c10::Device(c10::kCPU));
}

at::Tensor PackedWeights::dequantize_fp32(const Module& m, c10::Device device) const {
  const nlohmann::json& spec = layout(m.layout_id);
  const std::string where = dir_ + ": " + m.name;
  TensorGetter get = [&](const std::string& suffix) { return raw(m.name + "." + suffix); };
  TensorProbe has = [&](const std::string& suffix) { return ckpt_->has(m.name + "." + suffix); };
  try {
    if (spec.at("layout") == "pb-llm") return dequantize_pb(unpack_pb(m.rows, m.cols, get, has, device, where));
    const CodeLayout l = CodeLayout::from_json(spec, where);
    const int64_t bs = spec.at("blocksize").get<int64_t>();
    if (bs <= 0) fail(where, "invalid blocksize");
    return dequantize_binary(l, unpack_binary(l, bs, m.rows, m.cols, get, has, device, where));
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("malformed layout: ") + e.what());
  }
}

at::Tensor PackedWeights::load(const std::string& name, at::ScalarType dtype, c10::Device device) const {
  auto it = modules_.find(name);
  if (it == modules_.end()) return stored_->load(name, dtype, device);
  // Rounded through the source dtype first: what the fake-quant checkpoint of the same run holds.
  return dequantize_fp32(it->second, device).to(dequant_dtype_).to(dtype);
}

std::shared_ptr<kernels::PackedMatrix> PackedWeights::load_packed(const std::string& name, c10::Device device) const {
  auto it = modules_.find(name);
  if (it == modules_.end()) return nullptr;
  const Module& m = it->second;
  TensorGetter get = [&](const std::string& suffix) { return raw(m.name + "." + suffix); };
  TensorProbe has = [&](const std::string& suffix) { return ckpt_->has(m.name + "." + suffix); };
  std::string why;
  auto p = make_resident(layout(m.layout_id), m.rows, m.cols, get, has, dequant_dtype_, device, dir_ + ": " + m.name, &why);
  if (!p) {
    std::lock_guard<std::mutex> lock(warned_mutex_);
    if (warned_.insert(m.layout_id).second)
      OB1Q_WARN("%s: packed layout %s (%s) has no packed kernel; its weights are dequantized to dense tensors",
                dir_.c_str(), m.layout_id.c_str(), why.c_str());
  }
  return p;
}

void register_format() {
  io::register_weight_format(kQuantMethod, [](const std::string& dir) { return PackedWeights::open(dir); });
}

}  // namespace ob1q::pack
