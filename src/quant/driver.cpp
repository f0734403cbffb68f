#include "ob1q/quant/driver.hpp"

#include <ATen/ATen.h>

#include "ob1q/common/error.hpp"

namespace ob1q::quant {

using at::indexing::Slice;

Compensation parse_compensation(const std::string& s) {
  if (s == "billm-diag") return Compensation::BillmDiag;
  if (s == "exact-block") return Compensation::ExactBlock;
  fail("comp", "unknown compensation \"" + s + "\" (expected billm-diag or exact-block)");
}

DriverResult run_block_driver(const at::Tensor& W_in, const at::Tensor& H, const DriverOptions& opt,
                              const BlockQuantizer& quantize_block, const std::string& layer) {
  at::Tensor W = W_in.to(at::kFloat).clone();
  if (!at::isfinite(W).all().item<bool>()) fail(layer, "weights contain NaN/Inf");
  const int64_t d = W.size(1);
  if (H.size(0) != d) fail(layer, "Hessian size does not match the layer's input dimension");
  Preconditioned pc = precondition(H, W, opt.percdamp, layer);
  DriverResult r;
  r.damp = pc.damp;
  r.dead = pc.dead.sum().item<int64_t>();
  at::Tensor loss = at::zeros({}, W.options().dtype(at::kDouble));
  for (int64_t c = 0; c < d; c += opt.blocksize) {
    const int64_t e = std::min(c + opt.blocksize, d);
    BlockContext ctx;
    ctx.col0 = c;
    at::Tensor Ujj = pc.U.index({Slice(c, e), Slice(c, e)});
    ctx.Udiag = Ujj.diagonal().clone();
    ctx.S = H.index({Slice(c, e), Slice(c, e)}) * 0.5;
    at::Tensor WJ = W.index({Slice(), Slice(c, e)}).clone();
    at::Tensor QJ = quantize_block(WJ, ctx);
    at::Tensor diff = WJ - QJ;
    at::Tensor E = opt.comp == Compensation::BillmDiag
                       ? diff / ctx.Udiag
                       : at::linalg_solve_triangular(Ujj, diff, /*upper=*/true, /*left=*/false);
    W.index_put_({Slice(), Slice(c, e)}, QJ);
    if (e < d) W.index({Slice(), Slice(e, d)}).sub_(E.matmul(pc.U.index({Slice(c, e), Slice(e, d)})));
    loss += (diff.square() / ctx.Udiag.square()).sum().to(at::kDouble) * 0.5;
  }
  r.loss = loss.item<double>();
  if (!std::isfinite(r.loss) || !at::isfinite(W).all().item<bool>())
    fail(layer, "quantization produced NaN/Inf (refusing to write garbage)");
  r.W_hat = W;
  return r;
}

}  // namespace ob1q::quant
