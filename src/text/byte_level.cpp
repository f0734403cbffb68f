// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order, so that every byte is a visible, non-whitespace character.
#include "ob1q/text/byte_level.hpp"

#include <array>

#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

bool maps_to_itself(int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

struct Tables {
  std::array<uint32_t, 256> to_char{};
  std::array<int16_t, 0x200> to_byte{};  // images are all below U+0144
};

const Tables& tables() {
  static const Tables t = [] {
    Tables r;
    r.to_byte.fill(-1);
    uint32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      r.to_char[b] = maps_to_itself(b) ? static_cast<uint32_t>(b) : next++;
      r.to_byte[r.to_char[b]] = static_cast<int16_t>(b);
    }
    return r;
  }();
  return t;
}

}  // namespace

uint32_t byte_level_char(uint8_t b) { return tables().to_char[b]; }

int byte_level_byte(uint32_t cp) { return cp < 0x200 ? tables().to_byte[cp] : -1; }

std::string to_byte_level(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() * 2);
  for (char c : raw) append_utf8(out, byte_level_char(static_cast<uint8_t>(c)));
  return out;
}

bool from_byte_level(std::string_view token, std::string& out) {
  out.clear();
  size_t i = 0;
  while (i < token.size()) {
    const int b = byte_level_byte(decode_utf8(token, i));
    if (b < 0) return false;
    out += static_cast<char>(b);
  }
  return true;
}

}  // namespace ob1q::text
