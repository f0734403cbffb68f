// The shared shape of BiLLM, ARB, ARB-X, ARB-RC (and OA, which refines ARB-RC): the §5 block
// driver with the §6-§7 structure search of each block, then a binarizer for the block's
// groups. The methods differ in the family, their defaults and (OA) the block binarizer.
#pragma once
#include <functional>
#include <memory>

#include "ob1q/quant/binarize.hpp"
#include "ob1q/quant/driver.hpp"
#include "ob1q/quant/method.hpp"

namespace ob1q::quant {

// Defaults of methods.md §24 for the family (cgb on for the ARB family; iters2 for ARB-X).
nlohmann::json binary_gptq_defaults(Family family);
std::unique_ptr<Method> make_binary_gptq(Family family, const Params& params);

SalientMetric parse_salient_metric(const std::string& s);

struct BinaryGptqConfig {
  Family family = Family::ArbRc;
  DriverOptions driver;
  SearchOptions search;
  int iters = 15, iters2 = 15;
  at::ScalarType scale_dtype = at::kHalf;
  static BinaryGptqConfig from(Family family, const Params& p);  // validates the values
};

// The code of one block from its structure (the family's binarizers, or OA's refinement); the
// driver rounds its scales to the storage dtype and takes Q_J = dequantize_block(code).
using BlockBinarizer = std::function<pack::BlockCode(const at::Tensor& W_J, const BlockStructure& st, const BlockContext& ctx)>;

// Runs the driver over the layer; stats: loss, salient fraction, bits per weight, damping, time.
// The result carries the packed layer; W_hat is its dequantization, bit for bit.
LinearResult run_binary_gptq(const std::string& layer, const at::Tensor& W, const LinearStats& s,
                             const BinaryGptqConfig& c, const BlockBinarizer& binarize);

}  // namespace ob1q::quant
