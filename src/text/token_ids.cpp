// Token ids from files and token ids reaching a model: both are checked before anything is sized
// or indexed by them.
#include <algorithm>

#include "ob1q/common/error.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tokenizer.hpp"
#include "ob1q/text/tokenizer_sources.hpp"

namespace ob1q::text {

namespace {

constexpr int64_t kMaxTokenIds = int64_t{1} << 24;  // 64x the largest vocabularies in use

std::string outside_vocabulary(int32_t id, int64_t vocab_size) {
  return "token id " + std::to_string(id) + " is outside the model's vocabulary (vocab_size " +
         std::to_string(vocab_size) + ")";
}

}  // namespace

int64_t token_id_bound(int64_t defined) { return std::min(kMaxTokenIds, 2 * defined + 1024); }

void fail_far_id(int64_t id, int64_t defined, const std::string& where, const std::string& subject) {
  fail(where, subject + " " + std::to_string(id) + ", far beyond the " + std::to_string(defined) +
                  " ids defined (ids must be below " + std::to_string(token_id_bound(defined)) + ")");
}

std::vector<std::string> tokens_by_id(const std::vector<std::pair<std::string, int32_t>>& entries,
                                      const std::string& where, const std::string& what) {
  const int64_t defined = static_cast<int64_t>(entries.size()), bound = token_id_bound(defined);
  // what = "": the file itself is the map {token: id}.
  const auto name = [&](const std::string& token) {
    return what.empty() ? "the id of " + quote_text(token) : what + "[" + quote_text(token) + "]";
  };
  int32_t max_id = -1;
  for (const auto& [token, id] : entries) {
    if (id >= bound) fail_far_id(id, defined, where, name(token) + " is");
    max_id = std::max(max_id, id);
  }
  std::vector<std::string> tokens(static_cast<size_t>(max_id + 1));
  std::vector<const std::string*> owner(tokens.size(), nullptr);
  for (const auto& [token, id] : entries) {
    if (owner[id])
      fail(where, (what.empty() ? "" : what + ": ") + quote_text(*owner[id]) + " and " + quote_text(token) +
                      " both have id " + std::to_string(id));
    owner[id] = &token;
    tokens[id] = token;
  }
  return tokens;
}

void check_tokenizer_fits(const Tokenizer& tok, int64_t model_vocab_size, const std::string& where) {
  if (tok.vocab_size() <= model_vocab_size) return;
  fail(where, "the tokenizer's largest id is " + std::to_string(tok.max_id()) + ", the model's vocab_size is only " +
                  std::to_string(model_vocab_size) + " (embedding rows 0.." + std::to_string(model_vocab_size - 1) +
                  ")");
}

void check_token_ids(const std::vector<std::vector<int32_t>>& windows, int64_t vocab_size, const std::string& where) {
  for (size_t w = 0; w < windows.size(); ++w) {
    for (size_t k = 0; k < windows[w].size(); ++k) {
      const int32_t id = windows[w][k];
      if (id < 0 || id >= vocab_size)
        fail(where, "window " + std::to_string(w) + ", position " + std::to_string(k) + ": " +
                        outside_vocabulary(id, vocab_size));
    }
  }
}

void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& where) {
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= vocab_size)
      fail(where, "position " + std::to_string(k) + ": " + outside_vocabulary(ids[k], vocab_size));
  }
}

}  // namespace ob1q::text
