#include <cstdlib>

#include "ob1q/common/error.hpp"
#include "ob1q/quant/method.hpp"

namespace ob1q::quant {

namespace {

bool same_kind(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_boolean() || b.is_boolean()) return a.is_boolean() && b.is_boolean();
  if (a.is_number_integer()) return b.is_number_integer();
  if (a.is_number()) return b.is_number();
  return a.type() == b.type();
}

}  // namespace

void Params::merge(const nlohmann::json& overrides, const std::string& origin) {
  if (!overrides.is_object()) fail(origin, "parameters must be a JSON object");
  for (auto& [k, v] : overrides.items()) {
    if (k == "method" || k == "_comment") continue;  // preset files may name their method / carry notes
    if (!j_.contains(k)) fail(origin, "unknown parameter \"" + k + "\"");
    if (!same_kind(j_[k], v)) fail(origin, "parameter \"" + k + "\" must be a " + std::string(j_[k].type_name()) + ", got " + v.dump());
    j_[k] = v;
  }
}

void Params::set_from_string(const std::string& key, const std::string& value, const std::string& origin) {
  if (!j_.contains(key)) fail(origin, "unknown parameter \"" + key + "\"");
  const auto& d = j_[key];
  nlohmann::json v;
  char* end = nullptr;
  if (d.is_boolean()) {
    if (value == "true" || value == "on" || value == "1") v = true;
    else if (value == "false" || value == "off" || value == "0") v = false;
    else fail(origin, "\"" + key + "\" expects true/false, got \"" + value + "\"");
  } else if (d.is_number_integer()) {
    long long x = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end) fail(origin, "\"" + key + "\" expects an integer, got \"" + value + "\"");
    v = x;
  } else if (d.is_number()) {
    double x = std::strtod(value.c_str(), &end);
    if (value.empty() || *end) fail(origin, "\"" + key + "\" expects a number, got \"" + value + "\"");
    v = x;
  } else {
    v = value;
  }
  j_[key] = v;
}

const nlohmann::json& Params::at(const std::string& key) const {
  if (!j_.contains(key)) fail("parameters", "no parameter \"" + key + "\" (internal error)");
  return j_[key];
}

int64_t Params::get_int(const std::string& key) const { return at(key).get<int64_t>(); }
double Params::get_double(const std::string& key) const { return at(key).get<double>(); }
bool Params::get_bool(const std::string& key) const { return at(key).get<bool>(); }
std::string Params::get_string(const std::string& key) const { return at(key).get<std::string>(); }

}  // namespace ob1q::quant

namespace ob1q::quant {

at::ScalarType parse_scale_dtype(const std::string& s) {
  if (s == "fp16") return at::kHalf;
  if (s == "fp32") return at::kFloat;
  if (s == "bf16") return at::kBFloat16;
  fail("scale_dtype", "unknown dtype \"" + s + "\" (expected fp16, bf16 or fp32)");
}

}  // namespace ob1q::quant
