// Code point classes, UTF-8 handling and GPT-2's byte mapping.
#include <gtest/gtest.h>

#include "ob1q/text/byte_level.hpp"
#include "ob1q/text/unicode.hpp"

using namespace ob1q::text;

TEST(Unicode, ClassesFollowTheRegexDefinitions) {
  EXPECT_EQ(unicode_version(), std::string("14.0.0"));
  for (uint32_t cp : {0x41u, 0x7Au, 0xE9u, 0x4E2Du, 0x30ABu, 0x391u, 0x1D400u /* math bold A */})
    EXPECT_EQ(char_class(cp), CharClass::Letter) << std::hex << cp;
  for (uint32_t cp : {0x30u, 0x39u, 0x663u /* Arabic-Indic 3 */, 0x216Bu /* Nl: XII */, 0xBDu /* No: 1/2 */, 0xFF11u})
    EXPECT_EQ(char_class(cp), CharClass::Number) << std::hex << cp;
  // \s is the White_Space property: includes NBSP, NEL, ideographic space; not ZWSP.
  for (uint32_t cp : {0x20u, 0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x85u, 0xA0u, 0x1680u, 0x2003u, 0x2028u, 0x202Fu, 0x3000u})
    EXPECT_EQ(char_class(cp), CharClass::Space) << std::hex << cp;
  for (uint32_t cp : {0x1Cu, 0x200Bu, 0x200Du, 0x301u /* combining acute */, 0x1F600u, 0x27u, 0x10FFFFu, kInvalidCodePoint})
    EXPECT_EQ(char_class(cp), CharClass::Other) << std::hex << cp;
}

TEST(Unicode, DecodeConsumesOneByteOfInvalidSequences) {
  const std::string s = "a\xC3\xA9\xE2\x82z\xF0\x9F\x98\x80\xED\xA0\x80";
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) cps.push_back(decode_utf8(s, i));
  const std::vector<uint32_t> expected = {'a', 0xE9, kInvalidCodePoint, kInvalidCodePoint, 'z', 0x1F600,
                                          kInvalidCodePoint, kInvalidCodePoint, kInvalidCodePoint};
  EXPECT_EQ(cps, expected);
}

TEST(Unicode, LossyConversionLikeRust) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_lossy("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(utf8_lossy("\xE2\x82z"), r + "z");            // a truncated sequence is one U+FFFD
  EXPECT_EQ(utf8_lossy("\xFF\xC0\x80"), r + r + r);        // never-valid bytes, one each
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), r + r + r);        // surrogates are not UTF-8
  EXPECT_EQ(utf8_lossy("\xF0\x9F\x98"), r);
}

TEST(ByteLevel, Gpt2Mapping) {
  EXPECT_EQ(byte_level_char(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(byte_level_char('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(byte_level_char('A'), uint32_t{'A'});
  EXPECT_EQ(byte_level_char(0xAD), 0x143u);  // the last remapped byte
  for (int b = 0; b < 256; ++b) EXPECT_EQ(byte_level_byte(byte_level_char(static_cast<uint8_t>(b))), b);
  EXPECT_EQ(byte_level_byte(0x20), -1);  // a space is never an image
  std::string raw;
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  ASSERT_TRUE(from_byte_level(to_byte_level(all), raw));
  EXPECT_EQ(raw, all);
  EXPECT_FALSE(from_byte_level("a b", raw));
}
