// Every quantization method ob1q knows, one line each. The binary GPTQ family (BiLLM, ARB, ARB-X,
// ARB-RC) shares one driver and differs in its binarizers (binarize.cpp) and defaults.
#include "ob1q/common/error.hpp"
#include "ob1q/quant/binary_gptq.hpp"
#include "ob1q/quant/method.hpp"

namespace ob1q::quant {

MethodInfo pb_llm_method();  // methods/pb_llm.cpp
MethodInfo oa_method();      // methods/oa.cpp

namespace {

MethodInfo binary(const char* name, Family f, const char* summary) {
  return {name, summary, binary_gptq_defaults(f), [f](const Params& p, const ModelContext&) { return make_binary_gptq(f, p); }};
}

}  // namespace

const std::vector<MethodInfo>& registry() {
  static const std::vector<MethodInfo> methods = {
      binary("billm", Family::Billm, "BiLLM (braq): residual-binarized salient columns, bell-shaped split of the rest"),
      binary("arb", Family::Arb, "ARB: alternating refined binarization (row scale + mean), with CGB"),
      binary("arb-x", Family::ArbX, "ARB-LLM_X: ARB refined against the calibration input Gram, with CGB"),
      binary("arb-rc", Family::ArbRc, "ARB-LLM_RC: row-column scaled binarization, with CGB"),
      pb_llm_method(),
      oa_method(),
  };
  return methods;
}

const std::map<std::string, std::string>& param_help() {
  static const std::map<std::string, std::string> help = {
      {"blocksize", "input columns quantized at once by the GPTQ-style driver (beta, §5)"},
      {"percdamp", "Hessian damping, relative to its mean diagonal (§4)"},
      {"salient_metric", "hessian (W^2/U_jj^2) or magnitude: what the structure search ranks (§6)"},
      {"up_lim", "top columns considered by the salient search; it tries 1..up_lim-1 (§6)"},
      {"num_p", "break-point splits of the non-salient weights (only 1 is supported, §7)"},
      {"comp", "error compensation: billm-diag (the references) or exact-block (§5)"},
      {"scale_dtype", "dtype the scales are stored in (fp16, bf16, fp32); the quantizer rounds them to it, so packed and fake-quant weights agree"},
      {"cgb", "column-group bitmap: split the salient columns by magnitude too (§7(b))"},
      {"iters", "alternating iterations T of the ARB binarizers (§10-§12)"},
      {"iters2", "ARB-X calibration-aware refinement iterations T2 (§11)"},
      {"low_frac", "PB-LLM: fraction of weights binarized; the rest is kept at high_bit (§13)"},
      {"high_bit", "PB-LLM: bits of the salient weights (§13)"},
      {"oa_layers", "linears refined by OA, '|'-separated name suffixes; final_fc = each block's final FC from the model family's table (OPT fc2, the others mlp.down_proj)"},
      {"oa_iters", "OA iterations T_oa per plane (§18)"},
      {"oa_k", "OA: s_out and B steps every k-th iteration (paper Table 8)"},
      {"oa_bsteps", "OA: B steps (one input channel each) per k-cycle"},
      {"amp", "Attention-Matrix Preservation gates: on or off (paper Table 3)"},
      {"amp_mask", "AMP gate to mask: heaviside, direction or ternary (§17)"},
      {"oa_amp_gram", "AMP matrix from the cross Gram (cross, M = T^T T) or the literal quant Gram (§19 #1)"},
      {"oa_n_gram", "quadratic term of the B update from quant (S_hat) or cross Gram (§19 #3)"},
      {"oa_bform", "B update: exact, signfixed-2p or literal (the paper's printed form, §19 #4)"},
      {"oa_cross_transpose", "use W X_hat^T X instead of W X^T X_hat as the target (§19 #5)"},
      {"oa_brows", "B channels per step: paper-argmax, greedy-gain, all-jacobi, all-gauss-seidel (§16)"},
      {"oa_coupling", "planes refined jointly against the whole block (joint) or per group (independent)"},
      {"oa_order2", "salient planes refined: both, first or skip (§18)"},
      {"oa_init", "OA start: arbrc (ARB-RC with T iterations) or plain (its init formulas)"},
      {"oa_sweeps", "OA passes over the planes of a block (joint coupling)"},
      {"oa_solver", "s_in system: cholesky-f64 (on the device), gelsd-cpu-f64 (rank-revealing, on the CPU) or pinv (§16)"},
      {"oa_objective", "output (the paper: X W vs X_hat W_hat) or act (activation error, paper Table 4)"},
      {"oa_target", "block target: compensated (the driver's W_J) or original weights (§19 #9)"},
      {"oa_xhat", "X_hat of the OA layer: block-start (one capture pass) or true-seq (re-captured after the block's other linears are quantized)"},
      {"oa_damp", "not in the paper: adds oa_damp * mean(diag S_hat) * ||W - W_hat||^2 to the block loss"},
  };
  return help;
}

const MethodInfo& find_method(const std::string& name) {
  std::string known;
  for (const auto& m : registry()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  fail("--method", "unknown method \"" + name + "\" (known: " + known + ")");
}

}  // namespace ob1q::quant
