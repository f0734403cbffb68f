// The GPT-2, LLaMA-3 and Qwen2 pre-tokenizer regexes as scanners over code points. The patterns are
// alternations tried in order at each position (leftmost-first, like Oniguruma and the Rust regex
// crate); each branch below says which alternative it implements and how backtracking resolves.
#include "ob1q/text/pretokenize_regex.hpp"

#include <cstdint>

#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

struct Char {
  uint32_t cp;
  uint32_t offset;  // byte offset in the text
  CharClass cls;
};

std::vector<Char> decode_chars(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const uint32_t cp = decode_utf8(text, i);
    chars.push_back({cp, static_cast<uint32_t>(start), char_class(cp)});
  }
  return chars;
}

bool is_cr_lf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

// Lower-cases the ASCII letters of a contraction; the long s (U+017F) case-folds to 's' under
// (?i), as both Oniguruma and Rust regex apply Unicode simple case folding.
uint32_t fold(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp == 0x17F) return 's';
  return cp;
}

// 's|'t|'re|'ve|'m|'ll|'d at chars[i] (an apostrophe): the match length in chars, 0 if none.
size_t contraction(const std::vector<Char>& c, size_t i, bool ignore_case) {
  const size_t n = c.size();
  if (i + 1 >= n) return 0;
  const auto at = [&](size_t k) { return ignore_case ? fold(c[k].cp) : c[k].cp; };
  const uint32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= n) return 0;
  const uint32_t b = at(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

size_t run_of(const std::vector<Char>& c, size_t i, CharClass cls) {
  while (i < c.size() && c[i].cls == cls) ++i;
  return i;
}

// The three whitespace alternatives shared by both patterns, at a whitespace char i whose
// maximal whitespace run ends at q:
//   \s+(?!\S): the whole run if it reaches the end, else the run minus its last char (the greedy
//              match backtracks until the next char is whitespace), which needs a run of >= 2;
//   \s+      : otherwise the single whitespace char before a non-space.
size_t whitespace_end(size_t i, size_t q, size_t n) {
  if (q == n) return q;
  if (q - i >= 2) return q - 1;
  return q;
}

// One match of the GPT-2 pattern at i; returns its end (in chars).
size_t gpt2_match(const std::vector<Char>& c, size_t i) {
  const size_t n = c.size();
  if (c[i].cp == '\'') {
    if (size_t len = contraction(c, i, false)) return i + len;
  }
  // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional literal space, then a run of one
  // class. A space not followed by such a run cannot start these (it is whitespace itself).
  size_t j = i;
  if (c[i].cp == ' ' && i + 1 < n && c[i + 1].cls != CharClass::Space) j = i + 1;
  if (c[j].cls != CharClass::Space) return run_of(c, j, c[j].cls);
  return whitespace_end(i, run_of(c, i, CharClass::Space), n);
}

// One match of the LLaMA-3 pattern (max_digits 3) or the Qwen2 pattern (1) at i; returns its end (in chars).
size_t llama3_match(const std::vector<Char>& c, size_t i, size_t max_digits) {
  const size_t n = c.size();
  const Char& ch = c[i];
  if (ch.cp == '\'') {
    if (size_t len = contraction(c, i, true)) return i + len;
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+ : letters, optionally led by one char that is none of \r \n L N
  // (whitespace included). If that char is not followed by a letter the branch fails.
  if (ch.cls == CharClass::Letter) return run_of(c, i, CharClass::Letter);
  if (ch.cls != CharClass::Number && !is_cr_lf(ch.cp) && i + 1 < n && c[i + 1].cls == CharClass::Letter)
    return run_of(c, i + 1, CharClass::Letter);
  // \p{N}{1,3} (Qwen2: \p{N})
  if (ch.cls == CharClass::Number) {
    size_t j = i;
    while (j < n && j < i + max_digits && c[j].cls == CharClass::Number) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t j = i;
  if (ch.cp == ' ' && i + 1 < n && c[i + 1].cls == CharClass::Other) j = i + 1;
  if (c[j].cls == CharClass::Other) {
    j = run_of(c, j, CharClass::Other);
    while (j < n && is_cr_lf(c[j].cp)) ++j;
    return j;
  }
  // Only whitespace is left. \s*[\r\n]+ : the greedy \s* backtracks to the last \r or \n of the
  // whitespace run, and [\r\n]+ then takes just that char (the rest of the run is not \r\n).
  const size_t q = run_of(c, i, CharClass::Space);
  for (size_t k = q; k > i; --k) {
    if (is_cr_lf(c[k - 1].cp)) return k;
  }
  return whitespace_end(i, q, n);
}

}  // namespace

const std::string& split_pattern_regex(SplitPattern p) {
  static const std::string gpt2 =
      R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
  static const std::string llama3 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string qwen2 =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  return p == SplitPattern::Gpt2 ? gpt2 : p == SplitPattern::Llama3 ? llama3 : qwen2;
}

bool find_split_pattern(const std::string& regex, SplitPattern* out) {
  for (SplitPattern p : {SplitPattern::Gpt2, SplitPattern::Llama3, SplitPattern::Qwen2}) {
    if (regex == split_pattern_regex(p)) {
      *out = p;
      return true;
    }
  }
  return false;
}

void split_by_pattern(SplitPattern p, std::string_view text, std::vector<std::string_view>& out) {
  if (text.empty()) return;
  const std::vector<Char> chars = decode_chars(text);
  const size_t n = chars.size();
  size_t i = 0;
  while (i < n) {
    const size_t end = p == SplitPattern::Gpt2 ? gpt2_match(chars, i) : llama3_match(chars, i, p == SplitPattern::Llama3 ? 3 : 1);
    const size_t from = chars[i].offset;
    const size_t to = end < n ? chars[end].offset : text.size();
    out.push_back(text.substr(from, to - from));
    i = end;
  }
}

}  // namespace ob1q::text
