// Decoding through the HF decoder chain: ids -> token strings -> each decoder step in turn ->
// concatenation. skip_special_tokens=False and no clean_up_tokenization_spaces, so that
// decode(encode(text)) gives the text back wherever HF's decoders allow it.
#include <cctype>
#include <cstdlib>

#include "ob1q/text/byte_level.hpp"
#include "ob1q/text/hf_tokenizer.hpp"
#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

using Tokens = std::vector<std::string>;

std::string join(const Tokens& tokens, std::string_view sep = "") {
  std::string out;
  for (size_t k = 0; k < tokens.size(); ++k) {
    if (k) out.append(sep);
    out += tokens[k];
  }
  return out;
}

void replace_in(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
}

// Tokens made of byte images become their bytes; others (added tokens such as "<|eot_id|>"
// with characters outside the mapping) are taken literally. The bytes are then read as UTF-8.
Tokens byte_level(const Tokens& tokens) {
  std::string bytes, raw;
  for (const std::string& t : tokens) bytes += from_byte_level(t, raw) ? raw : t;
  return {utf8_lossy(bytes)};
}

// "<0xXX>" tokens are bytes; a run of them becomes its UTF-8 text, or one U+FFFD per byte when
// the run is not valid UTF-8.
Tokens byte_fallback(const Tokens& tokens) {
  Tokens out;
  std::string run;
  size_t run_len = 0;
  const auto flush = [&]() {
    if (!run_len) return;
    if (utf8_lossy(run) == run) {
      out.push_back(run);
    } else {
      for (size_t k = 0; k < run_len; ++k) out.push_back("\xEF\xBF\xBD");
    }
    run.clear();
    run_len = 0;
  };
  for (const std::string& t : tokens) {
    const bool is_byte = t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<uint8_t>(t[3])) &&
                         std::isxdigit(static_cast<uint8_t>(t[4]));
    if (is_byte) {
      run += static_cast<char>(std::strtol(t.substr(3, 2).c_str(), nullptr, 16));
      ++run_len;
    } else {
      flush();
      out.push_back(t);
    }
  }
  flush();
  return out;
}

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
void strip(Tokens& tokens, const std::string& c, size_t start, size_t stop) {
  if (c.empty()) return;
  for (std::string& t : tokens) {
    size_t from = 0, to = t.size();
    for (size_t k = 0; k < start && t.compare(from, c.size(), c) == 0; ++k) from += c.size();
    for (size_t k = 0; k < stop && to >= from + c.size() && t.compare(to - c.size(), c.size(), c) == 0; ++k) to -= c.size();
    t = t.substr(from, to - from);
  }
}

// Metaspace: the replacement becomes a space; the first token loses the leading one that the
// pre-tokenizer prepended (unless the scheme is "never").
void metaspace(Tokens& tokens, const DecoderStep& d) {
  for (size_t k = 0; k < tokens.size(); ++k) {
    replace_in(tokens[k], d.replacement, " ");
    if (k == 0 && d.prepend != PrependScheme::Never && !tokens[k].empty() && tokens[k][0] == ' ') tokens[k].erase(0, 1);
  }
}

}  // namespace

std::string HfTokenizer::decode(const std::vector<int32_t>& ids) const {
  Tokens tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    std::string t = token_text(id);
    if (!t.empty()) tokens.push_back(std::move(t));  // unknown ids are skipped, as in HF
  }
  if (pipe_.decoders.empty()) return join(tokens, " ");
  for (const DecoderStep& d : pipe_.decoders) {
    switch (d.kind) {
      case DecoderStep::ByteLevel:
        tokens = byte_level(tokens);
        break;
      case DecoderStep::Replace:
        for (std::string& t : tokens) replace_in(t, d.pattern, d.content);
        break;
      case DecoderStep::ByteFallback:
        tokens = byte_fallback(tokens);
        break;
      case DecoderStep::Fuse:
        tokens = {join(tokens)};
        break;
      case DecoderStep::Strip:
        strip(tokens, d.content, d.start, d.stop);
        break;
      case DecoderStep::Metaspace:
        metaspace(tokens, d);
        break;
    }
  }
  return join(tokens);
}

}  // namespace ob1q::text
