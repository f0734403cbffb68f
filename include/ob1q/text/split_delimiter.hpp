// HF tokenizers' Split pre-tokenizer: a pattern cuts a piece into matches and the text between
// them (find_matches), then the behavior decides what becomes of the matches
// (NormalizedString::split). Patterns are literal strings or the known regexes of
// pretokenize_regex.hpp.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "ob1q/text/pretokenize_regex.hpp"

namespace ob1q::text {

// HF's SplitDelimiterBehavior. Cutting "the-final--countdown" at "-":
//   Removed            the | final | countdown
//   Isolated           the | - | final | - | - | countdown
//   MergedWithPrevious the- | final- | - | countdown
//   MergedWithNext     the | -final | - | -countdown
//   Contiguous         the | - | final | -- | countdown
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// The behavior of its tokenizer.json name ("MergedWithPrevious", ...); false when unknown.
bool find_split_behavior(const std::string& name, SplitBehavior* out);

struct SplitSpan {
  std::string_view text;  // consecutive spans cover the input
  bool is_match;
};

// find_matches of a literal pattern (non-empty): its leftmost non-overlapping occurrences and the
// text between them, in order; nothing for an empty text.
void find_literal_matches(std::string_view text, std::string_view literal, std::vector<SplitSpan>& out);

// find_matches of a known regex: its scanner's pieces, all matches (they cover the input).
void find_regex_matches(SplitPattern pattern, std::string_view text, std::vector<SplitSpan>& out);

// Applies `behavior` to the spans of one text (with `invert`, what the pattern matched is what lies
// between its matches) and appends the pieces, never empty, to `out`.
void split_spans(std::vector<SplitSpan>& spans, SplitBehavior behavior, bool invert,
                 std::vector<std::string_view>& out);

}  // namespace ob1q::text
