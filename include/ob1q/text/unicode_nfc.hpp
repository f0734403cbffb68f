// Unicode Normalization Form C (canonical decomposition, then canonical composition), the NFC
// normalizer of HF tokenizers (Qwen2/Qwen3 tokenizer.json). Tables: scripts/gen_nfc_tables.py.
#pragma once
#include <string>
#include <string_view>

namespace ob1q::text {

// NFC of UTF-8 text. Bytes that are not valid UTF-8 pass through unchanged (and end the run of
// characters that compose across them).
std::string nfc(std::string_view text);

}  // namespace ob1q::text
