// ob1q inspect: what a packed checkpoint stores (layout, bits per weight, sizes) and whether it
// is intact. Exit status 1 when something is wrong.
#include <cstdio>

#include "cli.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/pack/checkpoint.hpp"

namespace ob1q::cli {

namespace {

void print_report(const nlohmann::json& r, bool per_layer) {
  std::printf("%s\n", r["path"].get<std::string>().c_str());
  if (r.contains("format")) {
    std::printf("  format      %s v%d, method %s\n", r["format"]["name"].get<std::string>().c_str(),
                r["format"]["version"].get<int>(), r["method"].get<std::string>().c_str());
    for (auto& [id, l] : r["layouts"].items()) std::printf("  layout %-4s %s\n", id.c_str(), l.dump().c_str());
  }
  if (per_layer && r.contains("layers")) {
    std::printf("  %-44s %13s %8s %8s\n", "layer", "shape", "stored", "paper");
    for (const auto& l : r["layers"])
      std::printf("  %-44s %6lldx%-6lld %8.4f %8.4f\n", l["name"].get<std::string>().c_str(),
                  (long long)l["shape"][0].get<int64_t>(), (long long)l["shape"][1].get<int64_t>(),
                  l["bits_per_weight_stored"].get<double>(), l["bits_per_weight_paper"].get<double>());
  }
  if (r.contains("totals")) {
    const auto& t = r["totals"];
    std::printf("  linears     %lld quantized, %.0f weights\n", (long long)t["quantized_linears"].get<int64_t>(),
                t["quantized_weights"].get<double>());
    std::printf("  bits/weight %.4f stored (signs, bitmaps, scales)   %.4f papers' accounting "
                "(1 + r_sal, docs/methods.md §14)\n",
                t["linear_bits_per_weight_stored"].get<double>(), t["linear_bits_per_weight_paper"].get<double>());
    std::printf("  on disk     %.2f MiB safetensors vs %.2f MiB at fp16 (%.2fx smaller; %.3f bits per parameter overall)\n",
                t["safetensors_bytes"].get<double>() / (1 << 20), t["fp16_bytes"].get<double>() / (1 << 20),
                t["compression_vs_fp16"].get<double>(), t["model_bits_per_parameter"].get<double>());
  }
  if (r.contains("manifest"))
    std::printf("  manifest    %lld/%lld files checked%s\n", (long long)r["manifest"]["checked"].get<int64_t>(),
                (long long)r["manifest"]["files"].get<int64_t>(),
                r["manifest"]["hashes_verified"].get<bool>() ? " (sizes and sha256)" : " (sizes only)");
  if (r["ok"].get<bool>()) {
    std::printf("  verdict     OK\n");
  } else {
    std::printf("  verdict     PROBLEMS\n");
    for (const auto& p : r["problems"]) std::printf("    - %s\n", p.get<std::string>().c_str());
  }
}

}  // namespace

void register_inspect(CLI::App& app) {
  struct State {
    std::string dir, json;
    bool no_hash = false, layers = false;
  };
  auto st = std::make_shared<State>();
  CLI::App* cmd = app.add_subcommand("inspect", "Describe and verify a packed checkpoint (bits per weight, sizes, manifest)");
  cmd->add_option("dir", st->dir, "packed checkpoint directory")->required();
  cmd->add_flag("--layers", st->layers, "print every quantized layer");
  cmd->add_flag("--no-hash", st->no_hash, "check file sizes only, not their sha256");
  cmd->add_option("--json", st->json, "write the report to FILE ('-' = stdout)");
  cmd->callback([st] {
    nlohmann::json r = pack::inspect(st->dir, !st->no_hash);
    if (st->json != "-") print_report(r, st->layers);
    if (!st->json.empty()) write_json(st->json, r);
    if (!r["ok"].get<bool>()) throw Error(st->dir + ": the packed checkpoint has problems (see above)");
  });
}

}  // namespace ob1q::cli
