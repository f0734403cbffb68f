// PB-LLM, PTQ variant ("GPTQ-PB", methods.md §13): ~90% of the weights binarized with one xnor
// binarizer per row, the Hessian-salient ~10% kept at 8 bits, and standard GPTQ compensation
// with intra-block propagation. Quantizer parameters are fitted once, before any compensation.
#include <ATen/ATen.h>

#include <chrono>

#include "ob1q/common/error.hpp"
#include "ob1q/quant/hessian.hpp"
#include "ob1q/quant/method.hpp"

namespace ob1q::quant {

using at::indexing::Slice;

namespace {

class PbLlm : public Method {
 public:
  explicit PbLlm(const Params& p)
      : blocksize_(p.get_int("blocksize")), percdamp_(p.get_double("percdamp")), low_frac_(p.get_double("low_frac")),
        high_bit_(p.get_int("high_bit")), scale_dtype_(parse_scale_dtype(p.get_string("scale_dtype"))) {
    if (low_frac_ <= 0 || low_frac_ > 1) fail("low_frac", "must be in (0, 1]");
    if (high_bit_ < 2 || high_bit_ > 16) fail("high_bit", "must be in 2..16");
  }

  LinearResult quantize(const std::string& layer, const at::Tensor& W_in, const LinearStats& s) const override {
    auto t0 = std::chrono::steady_clock::now();
    at::Tensor W = W_in.to(at::kFloat).clone();
    const int64_t m = W.size(0), d = W.size(1);
    const double levels = double((1 << high_bit_) - 1);
    // 8-bit asymmetric min-max per output row, on the original weights.
    at::Tensor lo = at::clamp_max(std::get<0>(W.min(1, true)), 0.0);
    at::Tensor hi = at::clamp_min(std::get<0>(W.max(1, true)), 0.0);
    at::Tensor both0 = (lo == 0).logical_and(hi == 0);
    lo = at::where(both0, at::full_like(lo, -1.0), lo);
    hi = at::where(both0, at::full_like(hi, 1.0), hi);
    // Every parameter is rounded to its storage dtype before use, so the packed layer
    // dequantizes to exactly the weights the compensation saw.
    auto stored = [&](const at::Tensor& t) { return t.to(scale_dtype_).to(at::kFloat); };
    at::Tensor scale = stored((hi - lo) / levels);
    at::Tensor zero = at::clamp(at::round(-lo / scale), 0, levels);
    auto code_of = [&](const at::Tensor& w) { return at::clamp(at::round(w / scale) + zero, 0, levels); };

    Preconditioned pc = precondition(s.H, W, percdamp_, layer);
    at::Tensor Ud = pc.U.diagonal();
    // Salient mask over the whole matrix from the Hessian saliency; the low (binarized) set.
    at::Tensor psi = W.square() / Ud.square().unsqueeze(0);
    at::Tensor sorted = std::get<0>(psi.flatten().sort());
    const int64_t k = std::min<int64_t>(m * d - 1, int64_t(double(m * d) * low_frac_));
    at::Tensor low = psi <= sorted[k];
    // xnor binarizer fitted once over all columns (zeros of the high set included).
    at::Tensor Wl = W * low;
    at::Tensor mu = stored(Wl.mean(1, true));
    at::Tensor alpha = stored((Wl - mu).abs().mean(1, true));
    at::Tensor signs = at::zeros({m, d}, W.options().dtype(at::kChar));
    at::Tensor codes = at::zeros({m, d}, W.options().dtype(at::kByte));

    for (int64_t c = 0; c < d; c += blocksize_) {
      const int64_t e = std::min(c + blocksize_, d);
      at::Tensor W1 = W.index({Slice(), Slice(c, e)}).clone();
      at::Tensor Err = at::zeros_like(W1);
      at::Tensor U1 = pc.U.index({Slice(c, e), Slice(c, e)});
      for (int64_t i = 0; i < e - c; ++i) {
        at::Tensor w = W1.index({Slice(), i}).unsqueeze(1);
        at::Tensor lo_i = low.index({Slice(), c + i}).unsqueeze(1);
        at::Tensor sg = at::sign(w - mu), code = code_of(w);
        at::Tensor q = at::where(lo_i, alpha * sg + mu, scale * (code - zero));
        signs.index_put_({Slice(), c + i}, sg.squeeze(1).to(at::kChar));
        codes.index_put_({Slice(), c + i}, code.squeeze(1).to(at::kByte));
        at::Tensor err = (w - q) / U1[i][i];
        W1.index({Slice(), Slice(i, e - c)}).sub_(err.matmul(U1.index({Slice(i, i + 1), Slice(i, e - c)})));
        W1.index_put_({Slice(), i}, q.squeeze(1));
        Err.index_put_({Slice(), i}, err.squeeze(1));
      }
      W.index_put_({Slice(), Slice(c, e)}, W1);
      if (e < d) W.index({Slice(), Slice(e, d)}).sub_(Err.matmul(pc.U.index({Slice(c, e), Slice(e, d)})));
    }
    if (!at::isfinite(W).all().item<bool>()) fail(layer, "quantization produced NaN/Inf (refusing to write garbage)");
    const double frac_low = low.to(at::kDouble).mean().item<double>();
    LinearResult out;
    out.W_hat = W;
    if (high_bit_ <= 8) {  // codes are stored as bytes
      pack::PbCode code{~low, signs, codes, alpha.squeeze(1), mu.squeeze(1), scale.squeeze(1), zero.squeeze(1)};
      out.W_hat = pack::dequantize_pb(code);  // the same values as W, by the same formula
      out.packed = pack::pack_pb(code, scale_dtype_);
      out.packed.spec = {{"high_bit", high_bit_}};
    }
    out.stats = {{"binarized_fraction", frac_low},
                 {"bits_per_weight", frac_low + (1 - frac_low) * double(high_bit_)},
                 {"damp", pc.damp},
                 {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    return out;
  }

 private:
  int64_t blocksize_;
  double percdamp_, low_frac_;
  int64_t high_bit_;
  at::ScalarType scale_dtype_;
};

}  // namespace

MethodInfo pb_llm_method() {
  return {"pb-llm", "PB-LLM (GPTQ-PB): 90% xnor-binarized, Hessian-salient 10% at 8 bits, full GPTQ",
          {{"blocksize", 128}, {"percdamp", 0.01}, {"low_frac", 0.9}, {"high_bit", 8}, {"scale_dtype", "fp16"}},
          [](const Params& p, const ModelContext&) { return std::make_unique<PbLlm>(p); }};
}

}  // namespace ob1q::quant
