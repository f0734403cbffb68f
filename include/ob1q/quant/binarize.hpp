// Binarizers (methods.md §9-§12) and the per-block structure search (§6-§8) of BiLLM / ARB /
// ARB-X / ARB-RC. Everything works on one block of a linear layer: W is [m, beta] fp32
// (rows = output channels, columns = the beta input channels of the block), masks are bool [m, beta].
// Every binarizer returns W_hat with W_hat = 0 outside its mask.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "ob1q/pack/binary_code.hpp"

namespace ob1q::quant {

// §9 BiLLM residual binarizer R_k ("braq"), order 1 or 2.
at::Tensor braq(const at::Tensor& W, const at::Tensor& M, int order);
// §10 ARB (row scale + row mean), order 1 or 2, `iters` alternating iterations (T = 15).
at::Tensor arb(const at::Tensor& W, const at::Tensor& M, int order, int iters);
// §11 ARB-X: ARB, then `iters2` calibration-aware refinements of mean/scales with the block
// Gram S [beta, beta] (B frozen).
at::Tensor arb_x(const at::Tensor& W, const at::Tensor& M, int order, const at::Tensor& S, int iters, int iters2);

// The same two with their parameters (tests, storage accounting, packing):
// W_hat = (sum_p alpha_p B_p + mu) * 1_M. For ARB the alphas are the last least-squares values,
// i.e. fitted to the signs *before* the last sign update (§10), exactly as W_hat uses them.
struct ArbPlane {
  at::Tensor alpha;  // [m]
  at::Tensor B;      // [m, beta] in {-1, 0, +1}, 0 outside M
};
struct ArbResult {
  at::Tensor W_hat;
  at::Tensor mu;  // [m] total row mean (all planes share it)
  std::vector<ArbPlane> planes;
};
ArbResult arb_params(const at::Tensor& W, const at::Tensor& M, int order, int iters);
ArbResult arb_x_params(const at::Tensor& W, const at::Tensor& M, int order, const at::Tensor& S, int iters,
                       int iters2);

// §12 ARB-RC (row-column scaling, no mean). Planes expose the parameters (the paper's OA
// refinement starts from them): W_hat = sum_p (a_p c_p^T) * B_p * 1_M.
struct RcPlane {
  at::Tensor a;  // [m]   per output row
  at::Tensor c;  // [beta] per input column
  at::Tensor B;  // [m, beta] in {-1, 0, +1} (0 only outside M or for exact zeros)
};
struct RcResult {
  at::Tensor W_hat;
  std::vector<RcPlane> planes;
};
RcResult arb_rc(const at::Tensor& W, const at::Tensor& M, int order, int iters);

// §9 with its parameters: W_hat = sum_p (alpha_p B_p + mu_p) * 1_M (one mean per plane).
struct BraqResult {
  at::Tensor W_hat;
  std::vector<ArbPlane> planes;
  std::vector<at::Tensor> mu;  // [m] per plane
};
BraqResult braq_params(const at::Tensor& W, const at::Tensor& M, int order);

// §7: the 81 float32 quantile levels 0.10:0.01:0.90 (LibTorch CPU linspace) and numpy's
// 'linear' quantile of a float32 pool computed in float32 arithmetic, as the references do.
at::Tensor quantile_levels();
std::vector<float> quantiles_f32(const at::Tensor& pool, const at::Tensor& levels);

enum class Family { Billm, Arb, ArbX, ArbRc };
enum class SalientMetric { Hessian, Magnitude };

struct MaskGroup {
  std::string name;  // "S_hi", "S_lo", "N_hi", "N_lo", "M_sal"
  at::Tensor mask;   // bool [m, beta]
  int order;         // binary planes: 2 for salient groups, 1 otherwise
};

struct BlockStructure {
  std::vector<MaskGroup> groups;  // disjoint, covering the block (§8 order)
  int salient_columns = 0;        // i* of §6
  at::Tensor salient;             // bool [beta]: the salient columns
  at::Tensor hi;                  // bool [m, beta]: members of S_hi or N_hi (the stored group bitmap)
};

struct SearchOptions {
  Family family = Family::ArbRc;
  bool cgb = true;                  // split the salient columns (column-group bitmap); ignored for BiLLM
  SalientMetric metric = SalientMetric::Hessian;
  int up_lim = 50;                  // top columns considered; search i = 1..up_lim-1
  int iters = 15;                   // T, used by the ARB-family reconstructions inside the search
};

// §6-§8 for one block. Udiag = diag(U_JJ) [beta] (U = upper Cholesky factor of H^-1);
// S = ARB-X block Gram [beta, beta] (only read for Family::ArbX). Throws ob1q::Error when the
// block has fewer than up_lim columns.
BlockStructure search_block(const at::Tensor& W, const at::Tensor& Udiag, const SearchOptions& opt,
                            const at::Tensor& S = at::Tensor());

// The stored group layout of a block structure (docs/format.md): which groups, their planes, and
// how the family's planes combine.
pack::CodeLayout code_layout(const BlockStructure& s, Family family);
// Binarizes the whole block with the family's binarizer per group (§8), as the parameters the
// packed checkpoint stores (scales not yet rounded to their storage dtype).
pack::BlockCode code_block(const at::Tensor& W, const BlockStructure& s, Family family, int iters, int iters2,
                           const at::Tensor& S = at::Tensor());
// One ARB-RC-shaped plane (a c^T) * B of group `group` written into `code`.
void set_rc_plane(pack::BlockCode& code, const pack::CodeLayout& layout, size_t group, int plane, const at::Tensor& mask,
                  const at::Tensor& a, const at::Tensor& c, const at::Tensor& B);
// An empty code for the structure (zero scales and signs), ready for set_rc_plane.
pack::BlockCode empty_code(const BlockStructure& s, const pack::CodeLayout& layout, const at::Tensor& like);
// Q_J = sum of the group reconstructions (unrounded parameters).
at::Tensor binarize_block(const at::Tensor& W, const BlockStructure& s, Family family, int iters, int iters2,
                          const at::Tensor& S = at::Tensor());

}  // namespace ob1q::quant
