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
  return {name, summary, binary_gptq_defaults(f), [f](const Params& p) { return make_binary_gptq(f, p); }};
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

const MethodInfo& find_method(const std::string& name) {
  std::string known;
  for (const auto& m : registry()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  fail("--method", "unknown method \"" + name + "\" (known: " + known + ")");
}

}  // namespace ob1q::quant
