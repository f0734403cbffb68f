// GPT-2's original tokenizer files: encoder.json maps byte-level token spellings to ids and
// vocab.bpe lists the merges in rank order after a "#version" line.
#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tokenizer_sources.hpp"

namespace ob1q::text {

BpeSource read_gpt2_files(const std::string& encoder_path, const std::string& merges_path) {
  BpeSource src;
  const nlohmann::json vocab = parse_json(read_file(encoder_path), encoder_path, "invalid encoder.json");
  if (!vocab.is_object()) fail(encoder_path, "not an object {token: id}");
  std::vector<std::pair<std::string, int32_t>> entries;
  entries.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items())
    entries.emplace_back(token, json_token_id(id, encoder_path, [&] { return "the id of " + quote_text(token); }));
  src.tokens = tokens_by_id(entries, encoder_path, "");
  const std::string text = read_file(merges_path);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos) fail(merges_path, "bad merge line '" + line + "'");
    src.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  src.options.byte_level = true;
  return src;
}

}  // namespace ob1q::text
