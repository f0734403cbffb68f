#include "ob1q/quant/binary_gptq.hpp"

#include <ATen/ATen.h>

#include <chrono>

#include "ob1q/common/error.hpp"
#include "ob1q/quant/driver.hpp"

namespace ob1q::quant {

SalientMetric parse_salient_metric(const std::string& s) {
  if (s == "hessian") return SalientMetric::Hessian;
  if (s == "magnitude") return SalientMetric::Magnitude;
  fail("salient_metric", "unknown metric \"" + s + "\" (expected hessian or magnitude)");
}

nlohmann::json binary_gptq_defaults(Family family) {
  nlohmann::json j = {{"blocksize", 128}, {"percdamp", 0.01}, {"salient_metric", "hessian"},
                      {"up_lim", 50},     {"num_p", 1},       {"comp", "billm-diag"}};
  if (family != Family::Billm) {
    j["cgb"] = true;
    j["iters"] = 15;
  }
  if (family == Family::ArbX) j["iters2"] = 15;
  return j;
}

namespace {

class BinaryGptq : public Method {
 public:
  BinaryGptq(Family family, const Params& p) : family_(family) {
    drv_.blocksize = p.get_int("blocksize");
    drv_.percdamp = p.get_double("percdamp");
    drv_.comp = parse_compensation(p.get_string("comp"));
    search_.family = family;
    search_.metric = parse_salient_metric(p.get_string("salient_metric"));
    search_.up_lim = static_cast<int>(p.get_int("up_lim"));
    search_.cgb = family != Family::Billm && p.get_bool("cgb");
    iters_ = family != Family::Billm ? static_cast<int>(p.get_int("iters")) : 0;
    search_.iters = iters_;
    iters2_ = family == Family::ArbX ? static_cast<int>(p.get_int("iters2")) : 0;
    if (p.get_int("num_p") != 1) fail("num_p", "only num_p = 1 is supported (the published setting; >1 has reference bugs)");
    if (drv_.blocksize < search_.up_lim) fail("blocksize", "must be at least up_lim (" + std::to_string(search_.up_lim) + ")");
    if (drv_.percdamp <= 0) fail("percdamp", "must be positive");
  }

  LinearResult quantize(const std::string& layer, const at::Tensor& W, const LinearStats& s) const override {
    auto t0 = std::chrono::steady_clock::now();
    int64_t salient_weights = 0;
    const int64_t m = W.size(0), d = W.size(1);
    if (d % drv_.blocksize != 0 && d % drv_.blocksize < search_.up_lim)
      fail(layer, "input dimension " + std::to_string(d) + " leaves a last block narrower than " +
                      std::to_string(search_.up_lim) + " columns, which the salient search cannot handle");
    auto block = [&](const at::Tensor& WJ, const BlockContext& ctx) {
      BlockStructure st = search_block(WJ, ctx.Udiag, search_, ctx.S);
      salient_weights += int64_t(st.salient_columns) * m;
      return binarize_block(WJ, st, family_, iters_, iters2_, ctx.S);
    };
    DriverResult r = run_block_driver(W, s.H, drv_, block, layer);
    const double r_sal = double(salient_weights) / double(m * d);
    LinearResult out;
    out.W_hat = r.W_hat;
    out.stats = {{"loss", r.loss},
                 {"salient_fraction", r_sal},
                 {"bits_per_weight", 1.0 + r_sal},
                 {"damp", r.damp},
                 {"dead_inputs", r.dead},
                 {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    return out;
  }

 private:
  Family family_;
  DriverOptions drv_;
  SearchOptions search_;
  int iters_ = 15, iters2_ = 15;
};

}  // namespace

std::unique_ptr<Method> make_binary_gptq(Family family, const Params& params) {
  return std::make_unique<BinaryGptq>(family, params);
}

}  // namespace ob1q::quant
