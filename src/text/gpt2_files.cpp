// GPT-2's original tokenizer files: encoder.json maps byte-level token spellings to ids and
// vocab.bpe lists the merges in rank order after a "#version" line.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/tokenizer_sources.hpp"

namespace ob1q::text {

BpeSource read_gpt2_files(const std::string& encoder_path, const std::string& merges_path) {
  BpeSource src;
  try {
    const nlohmann::json vocab = nlohmann::json::parse(read_file(encoder_path));
    int32_t max_id = -1;
    for (const auto& [token, id] : vocab.items()) max_id = std::max(max_id, id.get<int32_t>());
    src.tokens.resize(static_cast<size_t>(max_id + 1));
    for (const auto& [token, id] : vocab.items()) src.tokens[id.get<int32_t>()] = token;
  } catch (const nlohmann::json::exception& e) {
    fail(encoder_path, std::string("invalid encoder.json: ") + e.what());
  }
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
