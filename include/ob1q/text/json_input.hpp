// JSON from the files users give (tokenizers, calibration windows, data and task files): one way
// to parse it and to read its numbers, so that every reader of the text area refuses the same
// hostile input with the same one-line message.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace ob1q::text {

// nlohmann parses iteratively, but copying, comparing and dumping a value recurse once per level
// of nesting: input nested without bound would overflow the stack after a successful parse. None
// of the files read here nests beyond a handful of levels.
constexpr int kMaxJsonDepth = 256;

// Parses `text` read from `where`. Fails with "<where>: <what>: <reason>" for invalid JSON and,
// before parsing, for arrays and objects nested deeper than kMaxJsonDepth. The reason is made
// valid UTF-8 (nlohmann quotes the offending bytes).
nlohmann::json parse_json(std::string_view text, const std::string& where, const std::string& what = "invalid JSON");

// `v` for a message: scalars as JSON (long strings cut short), arrays and objects by type.
std::string json_brief(const nlohmann::json& v);

// A string for a message: JSON-quoted (control characters escaped, so the message stays one
// line), ill-formed UTF-8 replaced by U+FFFD.
std::string quote_text(std::string_view s);

// An integer in [lo, hi] (not a float, a string, a bool) -> *out; false for anything else.
bool json_int_in(const nlohmann::json& v, int64_t lo, int64_t hi, int64_t* out);

// Fails with "<where>: <name> is <v>, expected an integer in [lo, hi]".
[[noreturn]] void fail_json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& where,
                                const std::string& name);

// An integer in [lo, hi], or the failure above. `name()` gives the name; it is only called on
// failure, so that loops over whole vocabularies do not build a message per entry.
template <class NameFn>
int64_t json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& where, NameFn&& name) {
  int64_t x = 0;
  if (!json_int_in(v, lo, hi, &x)) fail_json_int(v, lo, hi, where, name());
  return x;
}

constexpr int64_t kMaxTokenIdValue = 2147483647;  // ids are int32 everywhere

// A token id as a file states it: an integer in [0, 2^31 - 1].
template <class NameFn>
int32_t json_token_id(const nlohmann::json& v, const std::string& where, NameFn&& name) {
  return static_cast<int32_t>(json_int(v, 0, kMaxTokenIdValue, where, std::forward<NameFn>(name)));
}

}  // namespace ob1q::text
