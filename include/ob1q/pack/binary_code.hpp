// The stored form of a binarized linear layer (docs/format.md, layout "binary-blocks") and its
// one dequantization rule. The quantizers build a BlockCode per block of input columns and take
// their Q_J from dequantize_block(), the reader unpacks the same BlockCodes from the checkpoint
// and calls the same function: that is why packed and fake-quant weights are bit-identical.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ob1q::pack {

// How a group's planes combine (fp32, left to right exactly as written):
//   rc:   (a0*c0)*s0 [+ (a1*c1)*s1]                       ARB-RC, OA
//   arb:  (a0*s0 [+ a1*s1]) + mu                           ARB, ARB-X (one mean per group)
//   braq: (a0*s0 + mu0) [+ (a1*s1 + mu1)]                  BiLLM (one mean per plane)
// a = row scale [m], c = column scale [w], s = sign in {-1, 0, +1}.
enum class Formula { Rc, Arb, Braq };
const char* formula_name(Formula f);
Formula parse_formula(const std::string& s);

// A group is the set of weights whose column is (not) salient and whose "hi" bit matches; hi = -1
// means the group takes both. Groups are disjoint and cover every weight; a weight belongs to the
// first group that matches. Groups with 2 planes must be salient (the second plane is stored for
// salient columns only).
struct GroupSpec {
  std::string name;
  bool salient = false;
  int hi = -1;     // 1, 0, or -1 (any)
  int planes = 1;  // 1 or 2
};

struct CodeLayout {
  Formula formula = Formula::Rc;
  std::vector<GroupSpec> groups;
  int64_t slots() const;       // planes of all groups, in group order: rows of row_scale
  int64_t mean_slots() const;  // arb: one per group; braq: one per plane; rc: 0
  int64_t slot(size_t group, int plane) const;
  int64_t mean_slot(size_t group, int plane) const;
  nlohmann::json to_json() const;
  static CodeLayout from_json(const nlohmann::json& j, const std::string& where);
};

// One block of w input columns of an [m, d] linear. Scales are fp32 tensors holding values that
// the storage dtype (fp16) represents exactly (see round_scales).
struct BlockCode {
  at::Tensor salient;  // bool [w]
  at::Tensor hi;       // bool [m, w] (false where a group ignores it)
  at::Tensor sign;     // int8 [2, m, w] in {-1, 0, +1}; plane 1 is 0 outside salient columns
  at::Tensor row;      // fp32 [slots, m]
  at::Tensor col;      // fp32 [slots, w] (rc only)
  at::Tensor mean;     // fp32 [mean_slots, m] (arb, braq)
};

// Rounds every scale to `storage` (fp16 by default) and back to fp32, in place.
void round_scales(BlockCode& code, at::ScalarType storage = at::kHalf);
// Bool [m, w] membership of every group of the layout.
std::vector<at::Tensor> group_masks(const CodeLayout& layout, const BlockCode& code);
// The block's dequantized weights, fp32 [m, w].
at::Tensor dequantize_block(const CodeLayout& layout, const BlockCode& code);

}  // namespace ob1q::pack
