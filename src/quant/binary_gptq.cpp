#include "ob1q/quant/binary_gptq.hpp"

#include <ATen/ATen.h>

#include <chrono>

#include "ob1q/common/error.hpp"

namespace ob1q::quant {

SalientMetric parse_salient_metric(const std::string& s) {
  if (s == "hessian") return SalientMetric::Hessian;
  if (s == "magnitude") return SalientMetric::Magnitude;
  fail("salient_metric", "unknown metric \"" + s + "\" (expected hessian or magnitude)");
}

nlohmann::json binary_gptq_defaults(Family family) {
  nlohmann::json j = {{"blocksize", 128}, {"percdamp", 0.01}, {"salient_metric", "hessian"},
                      {"up_lim", 50},     {"num_p", 1},       {"comp", "billm-diag"},
                      {"scale_dtype", "fp16"}};
  if (family != Family::Billm) {
    j["cgb"] = true;
    j["iters"] = 15;
  }
  if (family == Family::ArbX) j["iters2"] = 15;
  return j;
}

BinaryGptqConfig BinaryGptqConfig::from(Family family, const Params& p) {
  BinaryGptqConfig c;
  c.family = family;
  c.driver.blocksize = p.get_int("blocksize");
  c.driver.percdamp = p.get_double("percdamp");
  c.driver.comp = parse_compensation(p.get_string("comp"));
  c.search.family = family;
  c.search.metric = parse_salient_metric(p.get_string("salient_metric"));
  c.search.up_lim = static_cast<int>(p.get_int("up_lim"));
  c.search.cgb = family != Family::Billm && p.get_bool("cgb");
  c.iters = family != Family::Billm ? static_cast<int>(p.get_int("iters")) : 0;
  c.search.iters = c.iters;
  c.iters2 = family == Family::ArbX ? static_cast<int>(p.get_int("iters2")) : 0;
  c.scale_dtype = parse_scale_dtype(p.get_string("scale_dtype"));
  if (p.get_int("num_p") != 1) fail("num_p", "only num_p = 1 is supported (the published setting; >1 has reference bugs)");
  if (c.driver.blocksize < c.search.up_lim) fail("blocksize", "must be at least up_lim (" + std::to_string(c.search.up_lim) + ")");
  if (c.driver.percdamp <= 0) fail("percdamp", "must be positive");
  if (c.iters < 0 || c.iters2 < 0) fail("iters", "must not be negative");
  return c;
}

LinearResult run_binary_gptq(const std::string& layer, const at::Tensor& W, const LinearStats& s,
                             const BinaryGptqConfig& c, const BlockBinarizer& binarize) {
  auto t0 = std::chrono::steady_clock::now();
  int64_t salient_weights = 0;
  const int64_t m = W.size(0), d = W.size(1);
  if (d % c.driver.blocksize != 0 && d % c.driver.blocksize < c.search.up_lim)
    fail(layer, "input dimension " + std::to_string(d) + " leaves a last block narrower than " +
                    std::to_string(c.search.up_lim) + " columns, which the salient search cannot handle");
  std::vector<pack::BlockCode> codes;
  pack::CodeLayout layout;
  auto block = [&](const at::Tensor& WJ, const BlockContext& ctx) {
    BlockStructure st = search_block(WJ, ctx.Udiag, c.search, ctx.S);
    salient_weights += int64_t(st.salient_columns) * m;
    pack::BlockCode code = binarize(WJ, st, ctx);
    pack::round_scales(code, c.scale_dtype);
    if (codes.empty()) layout = code_layout(st, c.family);
    at::Tensor Q = pack::dequantize_block(layout, code);
    codes.push_back(std::move(code));
    return Q;
  };
  DriverResult r = run_block_driver(W, s.H, c.driver, block, layer);
  const double r_sal = double(salient_weights) / double(m * d);
  LinearResult out;
  out.W_hat = r.W_hat;
  out.packed = pack::pack_binary(layout, c.driver.blocksize, codes, c.scale_dtype);
  out.packed.spec = layout.to_json();
  out.packed.spec["blocksize"] = c.driver.blocksize;
  out.stats = {{"loss", r.loss},
               {"salient_fraction", r_sal},
               {"bits_per_weight", 1.0 + r_sal},
               {"damp", r.damp},
               {"dead_inputs", r.dead},
               {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
  return out;
}

namespace {

class BinaryGptq : public Method {
 public:
  BinaryGptq(Family family, const Params& p) : c_(BinaryGptqConfig::from(family, p)) {}

  LinearResult quantize(const std::string& layer, const at::Tensor& W, const LinearStats& s) const override {
    return run_binary_gptq(layer, W, s, c_, [this](const at::Tensor& WJ, const BlockStructure& st, const BlockContext& ctx) {
      return code_block(WJ, st, c_.family, c_.iters, c_.iters2, ctx.S);
    });
  }

 private:
  BinaryGptqConfig c_;
};

}  // namespace

std::unique_ptr<Method> make_binary_gptq(Family family, const Params& params) {
  return std::make_unique<BinaryGptq>(family, params);
}

}  // namespace ob1q::quant
