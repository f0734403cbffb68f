// GPT-2's reversible mapping of the 256 byte values onto printable code points: byte-level BPE
// vocabularies spell raw bytes with these characters (a space is "Ġ", a newline "Ċ").
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ob1q::text {

// The code point standing for byte b.
uint32_t byte_level_char(uint8_t b);

// The byte that code point cp stands for, or -1 when cp is not one of the 256 images.
int byte_level_byte(uint32_t cp);

// Raw bytes -> their byte-level spelling (UTF-8).
std::string to_byte_level(std::string_view raw);

// Byte-level spelling -> raw bytes; false (out unspecified) when a character is not an image.
bool from_byte_level(std::string_view token, std::string& out);

}  // namespace ob1q::text
