// NFC as UAX #15 defines it: each code point fully decomposed (Hangul syllables algorithmically),
// runs of non-starters stably sorted by combining class, then every character composed with the
// last starter when no character of the same or higher class sits between them.
#include "ob1q/text/unicode_nfc.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ob1q/text/unicode.hpp"
#include "unicode_nfc_tables.hpp"

namespace ob1q::text {

namespace {

using namespace nfc_detail;

// Hangul syllables: S = SBase + (L - LBase) * NCount + (V - VBase) * TCount + (T - TBase).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

uint8_t combining_class(uint32_t cp) {
  const CombiningRange* end = kCombining + kCombiningCount;
  const CombiningRange* it = std::upper_bound(kCombining, end, cp, [](uint32_t c, const CombiningRange& r) { return c < r.first; });
  if (it == kCombining) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositionCount;
  const Decomposition* it = std::lower_bound(kDecompositions, end, cp, [](const Decomposition& d, uint32_t c) { return d.cp < c; });
  if (it != end && it->cp == cp) {
    out.insert(out.end(), kDecompositionPool + it->offset, kDecompositionPool + it->offset + it->length);
  } else {
    out.push_back(cp);
  }
}

// The primary composite of (a, b), or 0.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = kCompositions + kCompositionCount;
  const Composition* it = std::lower_bound(kCompositions, end, std::make_pair(a, b), [](const Composition& c, const std::pair<uint32_t, uint32_t>& k) {
    return c.first < k.first || (c.first == k.first && c.second < k.second);
  });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

// NFC of a run of valid code points, appended to `out` as UTF-8.
void normalize_run(std::vector<uint32_t>& cps, std::string& out) {
  std::vector<uint32_t> d;
  d.reserve(cps.size() + 8);
  for (uint32_t cp : cps) decompose(cp, d);
  // Canonical ordering: a stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](uint32_t x, uint32_t y) { return combining_class(x) < combining_class(y); });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> c;
  c.reserve(d.size());
  size_t starter = SIZE_MAX;  // index in c of the last starter
  int last_class = -1;        // class of the last character appended after it (-1: none)
  for (uint32_t cp : d) {
    const int cls = combining_class(cp);
    if (starter != SIZE_MAX && (last_class < cls || (last_class == -1 && cls == 0))) {
      // not blocked: no character between the starter and cp has a class >= cp's (or is a starter)
      if (const uint32_t comp = compose_pair(c[starter], cp)) {
        c[starter] = comp;
        continue;
      }
    }
    if (cls == 0) {
      starter = c.size();
      last_class = -1;
    } else {
      last_class = cls;
    }
    c.push_back(cp);
  }
  for (uint32_t cp : c) append_utf8(out, cp);
  cps.clear();
}

}  // namespace

std::string nfc(std::string_view text) {
  if (std::all_of(text.begin(), text.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x80; }))
    return std::string(text);  // ASCII is its own NFC
  std::string out;
  out.reserve(text.size());
  std::vector<uint32_t> run;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    const uint32_t cp = decode_utf8(text, i);
    if (cp == kInvalidCodePoint) {
      normalize_run(run, out);
      out.append(text.substr(start, i - start));
      continue;
    }
    run.push_back(cp);
  }
  normalize_run(run, out);
  return out;
}

}  // namespace ob1q::text
