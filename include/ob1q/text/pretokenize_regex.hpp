// Hand-written scanners equivalent to the pre-tokenizer regexes of byte-level BPE tokenizers
// (no regex engine): each splits text into the consecutive matches of find_iter, which for these
// patterns cover the whole input.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ob1q::text {

enum class SplitPattern {
  // GPT-2 / OPT (ByteLevel with use_regex):
  //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Gpt2,
  // LLaMA-3 (Split, behavior Isolated):
  //   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
  //   \s*[\r\n]+|\s+(?!\S)|\s+
  Llama3,
  // Qwen2 / Qwen3: LLaMA-3's with single digits (\p{N} instead of \p{N}{1,3}).
  Qwen2,
};

// The regex source of a pattern, exactly as it appears in tokenizer.json.
const std::string& split_pattern_regex(SplitPattern p);

// Recognizes a tokenizer.json Split regex; false when it is not one of the supported patterns.
bool find_split_pattern(const std::string& regex, SplitPattern* out);

// Appends the pieces of `text` (views into it, in order, never empty) to `out`.
void split_by_pattern(SplitPattern p, std::string_view text, std::vector<std::string_view>& out);

}  // namespace ob1q::text
