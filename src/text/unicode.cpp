// UTF-8 decoding and code point classes for the hand-written pre-tokenizer scanners.
#include "ob1q/text/unicode.hpp"

#include <algorithm>
#include <array>

namespace ob1q::text {

namespace {

// The Basic Multilingual Plane covers nearly all text: a 64 KiB table built once from the
// generated ranges makes its lookups O(1); the rare astral code points use a binary search.
const std::array<uint8_t, 0x10000>& bmp_table() {
  static const std::array<uint8_t, 0x10000> table = [] {
    std::array<uint8_t, 0x10000> t{};
    for (size_t r = 0; r < unicode_detail::kClassRangeCount; ++r) {
      const auto& range = unicode_detail::kClassRanges[r];
      for (uint32_t cp = range.first; cp <= range.last && cp < 0x10000; ++cp) t[cp] = range.cls;
    }
    return t;
  }();
  return table;
}

}  // namespace

CharClass char_class(uint32_t cp) {
  if (cp < 0x10000) return static_cast<CharClass>(bmp_table()[cp]);
  if (cp > 0x10FFFF) return CharClass::Other;
  const auto* begin = unicode_detail::kClassRanges;
  const auto* end = begin + unicode_detail::kClassRangeCount;
  const auto* it = std::upper_bound(begin, end, cp, [](uint32_t v, const unicode_detail::ClassRange& r) {
    return v < r.first;
  });
  if (it == begin) return CharClass::Other;
  --it;
  return cp <= it->last ? static_cast<CharClass>(it->cls) : CharClass::Other;
}

uint32_t decode_utf8(std::string_view s, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len = 0;
  uint32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return kInvalidCodePoint;
  }
  if (i + len > s.size()) {
    ++i;
    return kInvalidCodePoint;
  }
  for (size_t k = 1; k < len; ++k) {
    const uint8_t b = byte(i + k);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kInvalidCodePoint;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kInvalidCodePoint;
  }
  i += len;
  return cp;
}

bool is_one_character(std::string_view s) {
  size_t i = 0;
  return !s.empty() && decode_utf8(s, i) != kInvalidCodePoint && i == s.size();
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    // Bytes following b0: how many, and the range of the first (excludes overlongs, surrogates).
    size_t need = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b0 < 0x80) {
      out += static_cast<char>(b0);
      ++i;
      continue;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2;
      if (b0 == 0xE0) lo = 0xA0;
      if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3;
      if (b0 == 0xF0) lo = 0x90;
      if (b0 == 0xF4) hi = 0x8F;
    }
    size_t len = 1;  // bytes of the (possibly partial) sequence seen so far
    bool ok = need > 0;
    for (size_t k = 0; ok && k < need; ++k) {
      const size_t j = i + 1 + k;
      const uint8_t b = j < s.size() ? static_cast<uint8_t>(s[j]) : 0;
      const bool cont = j < s.size() && (k == 0 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF));
      if (cont) {
        ++len;
      } else {
        ok = false;
      }
    }
    if (ok) {
      out.append(s.substr(i, len));
    } else {
      out += "\xEF\xBF\xBD";
    }
    i += len;
  }
  return out;
}

const char* unicode_version() { return unicode_detail::kUnicodeVersion; }

}  // namespace ob1q::text
