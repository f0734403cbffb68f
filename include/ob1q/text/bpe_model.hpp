// The BPE model of HF tokenizers (models/bpe): a vocabulary, ranked merges, and the greedy
// lowest-rank-first merge loop, for one pre-token ("word") at a time.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unordered_map>

#include "ob1q/text/flat_map.hpp"

namespace ob1q::text {

struct BpeOptions {
  // Tokens are spelled with GPT-2's byte images and words are given as raw bytes.
  bool byte_level = false;
  // Characters missing from the vocabulary become <0xXX> byte tokens (SentencePiece style).
  bool byte_fallback = false;
  // Consecutive unknown characters give one unk token.
  bool fuse_unk = false;
  // A word that is itself a vocabulary token is emitted as is, without merging (LLaMA-3).
  bool ignore_merges = false;
  std::string unk_token;  // empty: unknown characters are dropped, as HF does without unk
};

// Reusable buffers of encode_word (one per thread / call; the model itself is immutable).
struct BpeScratch {
  struct Symbol {
    int32_t id, prev, next;
    bool alive;
  };
  struct Candidate {
    int32_t rank, pos, new_id;
  };
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

class BpeModel {
 public:
  // tokens[id] is the token's spelling ("" for ids that are not used); merges are pairs of
  // tokens in rank order. `where` names the source in errors.
  BpeModel(std::vector<std::string> tokens, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options, const std::string& where);
  BpeModel(BpeModel&&) = default;
  BpeModel(const BpeModel&) = delete;  // the lookup maps view into the token strings
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one word: raw bytes for byte-level models, UTF-8 text otherwise.
  void encode_word(std::string_view word, std::vector<int32_t>& out, BpeScratch& scratch) const;

  const BpeOptions& options() const { return options_; }
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // Spelling of a token as in the vocabulary ("" when out of range).
  const std::string& token(int32_t id) const;
  // Id of a spelling, or -1.
  int32_t token_id(std::string_view spelling) const;
  // True when some token contains `marker` right after a character that is not part of a
  // marker: then words cannot be cut before such markers (see HfTokenizer's chunking).
  bool has_token_with_inner(std::string_view marker) const;

 private:
  void add_initial_symbols(std::string_view word, BpeScratch& scratch) const;
  void merge_symbols(BpeScratch& scratch) const;

  BpeOptions options_;
  std::vector<std::string> tokens_;
  std::vector<std::string> raw_words_;  // byte-level: the raw bytes of each token
  // Views into tokens_ / raw_words_, whose heap buffers a move of the model keeps in place.
  std::unordered_map<std::string_view, int32_t> spelling_to_id_;
  std::unordered_map<std::string_view, int32_t> word_to_id_;  // what ignore_merges compares with
  struct Merge {
    int32_t rank, new_id;
  };
  FlatMap64<Merge> merges_;  // (left id << 32 | right id) -> merge
  FlatMap64<int32_t> char_id_;  // non-byte-level: the tokens that are one code point
  int32_t byte_id_[256];        // byte-level: the token of each byte
  int32_t byte_fallback_id_[256];
  int32_t unk_id_ = -1;
};

}  // namespace ob1q::text
