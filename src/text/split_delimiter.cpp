// HF tokenizers' Split: find_matches (pattern.rs) then NormalizedString::split (normalizer.rs),
// step for step, so that every behavior, inverted or not, cuts exactly where HF does.
#include "ob1q/text/split_delimiter.hpp"

#include <algorithm>

namespace ob1q::text {

namespace {

// Two spans that follow each other in the same text as one.
std::string_view join(std::string_view first, std::string_view second) {
  return std::string_view(first.data(), static_cast<size_t>(second.data() + second.size() - first.data()));
}

}  // namespace

bool find_split_behavior(const std::string& name, SplitBehavior* out) {
  static const std::pair<const char*, SplitBehavior> kNames[] = {
      {"Removed", SplitBehavior::Removed},
      {"Isolated", SplitBehavior::Isolated},
      {"MergedWithPrevious", SplitBehavior::MergedWithPrevious},
      {"MergedWithNext", SplitBehavior::MergedWithNext},
      {"Contiguous", SplitBehavior::Contiguous},
  };
  for (const auto& [n, b] : kNames) {
    if (name == n) {
      *out = b;
      return true;
    }
  }
  return false;
}

void find_literal_matches(std::string_view text, std::string_view literal, std::vector<SplitSpan>& out) {
  size_t prev = 0;
  for (size_t hit = text.find(literal); hit != std::string_view::npos; hit = text.find(literal, prev)) {
    if (hit > prev) out.push_back({text.substr(prev, hit - prev), false});
    out.push_back({text.substr(hit, literal.size()), true});
    prev = hit + literal.size();
  }
  if (prev < text.size()) out.push_back({text.substr(prev), false});
}

void find_regex_matches(SplitPattern pattern, std::string_view text, std::vector<SplitSpan>& out) {
  std::vector<std::string_view> pieces;
  split_by_pattern(pattern, text, pieces);
  for (std::string_view p : pieces) out.push_back({p, true});
}

void split_spans(std::vector<SplitSpan>& spans, SplitBehavior behavior, bool invert,
                 std::vector<std::string_view>& out) {
  if (invert) {
    for (SplitSpan& s : spans) s.is_match = !s.is_match;
  }
  const size_t first = out.size();
  bool prev_match = false;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const SplitSpan& s : spans) out.push_back(s.text);
      break;
    case SplitBehavior::Removed:
      for (const SplitSpan& s : spans) {
        if (!s.is_match) out.push_back(s.text);
      }
      break;
    case SplitBehavior::Contiguous:  // runs of matches, runs of non-matches
      for (const SplitSpan& s : spans) {
        if (out.size() > first && s.is_match == prev_match) {
          out.back() = join(out.back(), s.text);
        } else {
          out.push_back(s.text);
        }
        prev_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithPrevious:  // a match joins the non-match right before it
      for (const SplitSpan& s : spans) {
        if (out.size() > first && s.is_match && !prev_match) {
          out.back() = join(out.back(), s.text);
        } else {
          out.push_back(s.text);
        }
        prev_match = s.is_match;
      }
      break;
    case SplitBehavior::MergedWithNext:  // a match joins the non-match right after it: HF walks backwards
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (out.size() > first && it->is_match && !prev_match) {
          out.back() = join(it->text, out.back());
        } else {
          out.push_back(it->text);
        }
        prev_match = it->is_match;
      }
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
      break;
  }
  // HF's PreTokenizedString::split drops empty pieces.
  out.erase(std::remove_if(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                           [](std::string_view p) { return p.empty(); }),
            out.end());
}

}  // namespace ob1q::text
