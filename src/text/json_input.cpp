#include "ob1q/text/json_input.hpp"

#include "ob1q/common/error.hpp"
#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

// True when arrays and objects nest deeper than kMaxJsonDepth (brackets inside strings do not
// count). Unbalanced input is the parser's to report.
bool nested_too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& where, const std::string& what) {
  if (nested_too_deep(text))
    fail(where, what + ": arrays and objects nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(where, what + ": " + utf8_lossy(e.what()));
  }
}

std::string quote_text(std::string_view s) { return nlohmann::json(utf8_lossy(s)).dump(); }

std::string json_brief(const nlohmann::json& v) {
  if (v.is_structured()) return v.type_name();
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return s.size() > 40 ? quote_text(s.substr(0, 40)) + "..." : quote_text(s);
  }
  return v.dump();
}

bool json_int_in(const nlohmann::json& v, int64_t lo, int64_t hi, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (hi < 0 || u > static_cast<uint64_t>(hi)) return false;
    *out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else {
    return false;
  }
  return *out >= lo && *out <= hi;
}

void fail_json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& where, const std::string& name) {
  fail(where, name + " is " + json_brief(v) + ", expected an integer in [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
}

}  // namespace ob1q::text
