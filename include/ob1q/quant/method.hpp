// One interface for every quantization method and one registry of them. A method is one file in
// src/quant/methods/ implementing Method, plus one line in src/quant/registry.cpp; the registry
// also feeds --method parsing, --help and the preset files in configs/.
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ob1q/pack/packed_linear.hpp"

namespace ob1q::quant {

// Hyperparameters: defaults (from the registry) <- config file <- command line. Unknown keys and
// wrongly typed values are errors naming the key.
class Params {
 public:
  Params() = default;
  explicit Params(nlohmann::json defaults) : j_(std::move(defaults)) {}
  // Merges `overrides` (an object) into the parameters; `origin` names where they came from.
  void merge(const nlohmann::json& overrides, const std::string& origin);
  // Sets one key from its command-line string form, parsed as the default's type.
  void set_from_string(const std::string& key, const std::string& value, const std::string& origin);
  int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  const nlohmann::json& json() const { return j_; }

 private:
  const nlohmann::json& at(const std::string& key) const;
  nlohmann::json j_ = nlohmann::json::object();
};

// What the pipeline gathered for one linear layer.
struct LinearStats {
  at::Tensor H;          // (2/n) sum_s Xhat_s^T Xhat_s, fp32 [d, d], undamped (q-stream inputs)
  int64_t nsamples = 0;
  // Only for linears the method asks cross Grams for (Method::cross_gram_blocksize): the diagonal
  // blocks C_J = (1/n) sum_s X_{s,J}^T Xhat_{s,J} (fp-stream inputs on the left), [d/beta, beta, beta].
  at::Tensor C_blocks;
  at::Tensor W_original;  // the layer's weights before any quantization of this run
};

struct LinearResult {
  at::Tensor W_hat;           // fp32 [m, d], dequantized ("fake-quant") weights = dequantize(packed)
  pack::PackedLinear packed;  // what the packed checkpoint stores for this layer
  nlohmann::json stats;       // loss, salient fraction, bits per weight, damping, ...
};

// The dtype scales are stored (and rounded) in: the "scale_dtype" hyperparameter.
at::ScalarType parse_scale_dtype(const std::string& s);

class Method {
 public:
  virtual ~Method() = default;
  // `layer` names the linear in messages (e.g. "model.layers.3.mlp.down_proj").
  virtual LinearResult quantize(const std::string& layer, const at::Tensor& W, const LinearStats& stats) const = 0;
  // Block size beta of the cross Grams C_J this method needs for the linear `name` (e.g.
  // "mlp.down_proj"), or 0 when it needs none. Any nonzero answer makes the pipeline propagate
  // the full-precision stream next to the quantized one.
  virtual int64_t cross_gram_blocksize(const std::string& name) const { return 0; }
  // True when the statistics of `name` must be captured again after the block's other linears are
  // quantized (X_hat from the partially quantized block: the paper's "true-sequential" reading).
  virtual bool recapture(const std::string& name) const { return false; }
};

// What a method may know of the model it quantizes: names from the family table of its
// model_type (model/family.hpp), so that methods need no knowledge of the families.
struct ModelContext {
  std::string final_fc;  // each block's final FC, e.g. "mlp.down_proj" (OPT: "fc2")
};

struct MethodInfo {
  std::string name;
  std::string summary;
  nlohmann::json defaults;  // every hyperparameter with its default (methods.md §24)
  std::function<std::unique_ptr<Method>(const Params&, const ModelContext&)> make;
};

const std::vector<MethodInfo>& registry();
// One line of help per hyperparameter key used by any method (for --help and the presets).
const std::map<std::string, std::string>& param_help();
const MethodInfo& find_method(const std::string& name);  // throws ob1q::Error listing the known names

}  // namespace ob1q::quant
