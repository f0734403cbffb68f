// The shared shape of BiLLM, ARB, ARB-X and ARB-RC: the §2.3 block driver with the §2.4-2.5
// structure search and the family's binarizers (§3.5) applied to each block. The method files
// differ only in the family and their defaults.
#pragma once
#include <memory>

#include "ob1q/quant/binarize.hpp"
#include "ob1q/quant/method.hpp"

namespace ob1q::quant {

// Defaults of methods.md §7 for the family (cgb on for the ARB family; iters2 for ARB-X).
nlohmann::json binary_gptq_defaults(Family family);
std::unique_ptr<Method> make_binary_gptq(Family family, const Params& params);

SalientMetric parse_salient_metric(const std::string& s);

}  // namespace ob1q::quant
