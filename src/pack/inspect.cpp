// `ob1q inspect`: what a packed checkpoint stores, measured from the stored tensors themselves.
#include <ATen/ATen.h>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/common/sha256.hpp"
#include "ob1q/io/safetensors.hpp"
#include "ob1q/pack/checkpoint.hpp"

namespace ob1q::pack {

namespace {

int64_t popcount(const at::Tensor& bytes, int64_t n) { return unpack_bits(bytes, n).sum().item<int64_t>(); }

// Checks every file the manifest lists (size, and sha256 when `hashes`).
void check_manifest(const std::string& dir, bool hashes, nlohmann::json& out, std::vector<std::string>& problems) {
  const std::string path = path_join(dir, "ob1q_manifest.json");
  if (!file_exists(path)) {
    problems.push_back("ob1q_manifest.json is missing");
    return;
  }
  nlohmann::json m = nlohmann::json::parse(read_file(path), nullptr, false);
  if (!m.is_object() || !m.contains("files") || !m["files"].is_object()) {
    problems.push_back("ob1q_manifest.json is malformed");
    return;
  }
  int64_t checked = 0;
  for (auto& [name, f] : m["files"].items()) {
    const std::string p = path_join(dir, name);
    if (!file_exists(p)) {
      problems.push_back(name + " is listed in the manifest but missing");
      continue;
    }
    if (file_bytes(p) != f.value("bytes", int64_t(-1))) {
      problems.push_back(name + ": size " + std::to_string(file_bytes(p)) + " differs from the manifest's " +
                         std::to_string(f.value("bytes", int64_t(-1))));
      continue;
    }
    if (hashes && sha256_file(p) != f.value("sha256", "")) problems.push_back(name + ": sha256 differs from the manifest");
    ++checked;
  }
  out["manifest"] = {{"files", m["files"].size()}, {"checked", checked}, {"hashes_verified", hashes}};
}

}  // namespace

nlohmann::json inspect(const std::string& dir, bool verify_hashes) {
  nlohmann::json out = {{"path", dir}};
  std::vector<std::string> problems;
  std::shared_ptr<PackedWeights> w;
  try {
    w = PackedWeights::open(dir);
  } catch (const Error& e) {
    out["ok"] = false;
    out["problems"] = {e.what()};
    return out;
  }
  const nlohmann::json& q = w->quantization_config();
  out["format"] = {{"name", q.value("format", "")}, {"version", q.value("format_version", 0)}};
  out["method"] = q.value("method", "");
  out["method_params"] = q.value("method_params", nlohmann::json::object());
  out["layouts"] = q.value("layouts", nlohmann::json::object());
  out["calibration"] = q.value("calibration", nlohmann::json::object());

  const io::Checkpoint& ck = w->checkpoint();
  nlohmann::json layers = nlohmann::json::array();
  double lin_weights = 0, lin_stored_bits = 0, lin_paper_bits = 0;
  for (const auto& [key, m] : w->modules()) {
    const nlohmann::json& spec = w->layout(m.layout_id);
    const double n = double(m.rows) * double(m.cols);
    nlohmann::json comp = nlohmann::json::object();
    int64_t bytes = 0;
    for (const auto& name : m.parts) {
      const int64_t b = static_cast<int64_t>(ck.get(name).info->nbytes);
      bytes += b;
      comp[name.substr(m.name.size() + 1)] = double(b) * 8 / n;
    }
    double paper = 0;
    try {
      if (spec.at("layout") == "pb-llm") {
        const double high = double(popcount(w->raw(m.name + ".high"), m.cols)) / n;
        paper = (1 - high) + high * spec.at("high_bit").get<double>();
      } else {
        paper = 1 + double(popcount(w->raw(m.name + ".salient"), m.cols)) / double(m.cols);
      }
    } catch (const std::exception& e) {
      problems.push_back(m.name + ": " + e.what());
    }
    const double stored = double(bytes) * 8 / n;
    lin_weights += n, lin_stored_bits += stored * n, lin_paper_bits += paper * n;
    layers.push_back({{"name", m.name}, {"shape", {m.rows, m.cols}}, {"layout", spec.value("layout", "")},
                      {"bits_per_weight_stored", stored}, {"bits_per_weight_paper", paper}, {"components", comp}});
  }
  out["layers"] = layers;

  // Sizes: the packed files on disk vs the same model at 16 bits per parameter.
  int64_t disk = 0;
  for (const auto& f : ck.files()) disk += file_bytes(f->path());
  double params = 0;
  for (const auto& name : ck.names())
    if (!w->is_packed_part(name)) params += double(ck.get(name).info->numel());
  params += lin_weights;
  out["totals"] = {{"quantized_linears", layers.size()},
                   {"quantized_weights", lin_weights},
                   {"parameters", params},
                   {"linear_bits_per_weight_stored", lin_weights > 0 ? lin_stored_bits / lin_weights : 0.0},
                   {"linear_bits_per_weight_paper", lin_weights > 0 ? lin_paper_bits / lin_weights : 0.0},
                   {"safetensors_bytes", disk},
                   {"fp16_bytes", params * 2},
                   {"compression_vs_fp16", disk > 0 ? params * 2 / double(disk) : 0.0},
                   {"model_bits_per_parameter", params > 0 ? double(disk) * 8 / params : 0.0}};
  check_manifest(dir, verify_hashes, out, problems);
  out["ok"] = problems.empty();
  out["problems"] = problems;
  return out;
}

}  // namespace ob1q::pack
