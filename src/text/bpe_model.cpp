// BPE merging exactly as HF tokenizers' Word::merge_all: all adjacent pairs that have a merge go
// into a min-heap keyed by (rank, position); the best is applied, stale entries are skipped, and
// the pairs formed with the new neighbours are pushed. O(n log n) on any word length.
#include "ob1q/text/bpe_model.hpp"

#include <algorithm>
#include <cstdio>

#include "ob1q/common/error.hpp"
#include "ob1q/text/byte_level.hpp"
#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

// Min-heap order of merge candidates: lowest rank first, then leftmost.
bool later(const BpeScratch::Candidate& a, const BpeScratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

}  // namespace

BpeModel::BpeModel(std::vector<std::string> tokens, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, const std::string& where)
    : options_(std::move(options)), tokens_(std::move(tokens)) {
  const int32_t n = static_cast<int32_t>(tokens_.size());
  spelling_to_id_.reserve(tokens_.size());
  for (int32_t id = 0; id < n; ++id) {
    if (!tokens_[id].empty()) spelling_to_id_.emplace(tokens_[id], id);
  }
  std::fill(std::begin(byte_id_), std::end(byte_id_), -1);
  std::fill(std::begin(byte_fallback_id_), std::end(byte_fallback_id_), -1);
  if (options_.byte_level) {
    // Words arrive as raw bytes; tokens are spelled with byte images. Keep both sides in bytes.
    raw_words_.resize(tokens_.size());
    for (int32_t id = 0; id < n; ++id) {
      if (!tokens_[id].empty() && from_byte_level(tokens_[id], raw_words_[id])) word_to_id_.emplace(raw_words_[id], id);
    }
    for (int b = 0; b < 256; ++b) byte_id_[b] = token_id(to_byte_level(std::string(1, static_cast<char>(b))));
  } else {
    for (int32_t id = 0; id < n; ++id) {
      const std::string& t = tokens_[id];
      if (t.empty()) continue;
      size_t i = 0;
      const uint32_t cp = decode_utf8(t, i);
      if (i == t.size() && cp != kInvalidCodePoint) char_id_.set(cp, id);
    }
  }
  if (options_.byte_fallback) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_fallback_id_[b] = token_id(name);
    }
  }
  if (!options_.unk_token.empty()) {
    unk_id_ = token_id(options_.unk_token);
    if (unk_id_ < 0) fail(where, "unk_token '" + options_.unk_token + "' is not in the vocabulary");
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t a = token_id(left), b = token_id(right), merged = token_id(left + right);
    if (a < 0 || b < 0 || merged < 0)
      fail(where, "merge '" + left + " " + right + "' uses a token that is not in the vocabulary");
    merges_.set(pair_key(a, b), Merge{static_cast<int32_t>(rank), merged});
  }
}

const std::string& BpeModel::token(int32_t id) const {
  static const std::string none;
  return id >= 0 && id < static_cast<int32_t>(tokens_.size()) ? tokens_[id] : none;
}

int32_t BpeModel::token_id(std::string_view spelling) const {
  auto it = spelling_to_id_.find(spelling);
  return it == spelling_to_id_.end() ? -1 : it->second;
}

bool BpeModel::has_token_with_inner(std::string_view marker) const {
  for (const std::string& t : tokens_) {
    for (size_t pos = t.find(marker, 1); pos != std::string::npos; pos = t.find(marker, pos + 1)) {
      if (pos < marker.size() || t.compare(pos - marker.size(), marker.size(), marker) != 0) return true;
    }
  }
  return false;
}

void BpeModel::add_initial_symbols(std::string_view word, BpeScratch& scratch) const {
  auto& symbols = scratch.symbols;
  symbols.clear();
  const auto push = [&](int32_t id) {
    const int32_t pos = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, pos - 1, pos + 1, true});
  };
  // Unknown characters, as HF's merge_word: with fuse_unk a run gives one unk token. Note that a
  // pending unk is only flushed by a known character (not by byte-fallback tokens), like HF.
  bool pending_unk = false;
  const auto unknown = [&]() {
    if (unk_id_ < 0) return;  // no unk token: the character is dropped
    if (pending_unk && !options_.fuse_unk) push(unk_id_);
    pending_unk = true;
  };
  const auto known = [&](int32_t id) {
    if (pending_unk) push(unk_id_), pending_unk = false;
    push(id);
  };
  if (options_.byte_level) {
    for (char c : word) {
      const int32_t id = byte_id_[static_cast<uint8_t>(c)];
      id >= 0 ? known(id) : unknown();
    }
  } else {
    size_t i = 0;
    while (i < word.size()) {
      const size_t start = i;
      const uint32_t cp = decode_utf8(word, i);
      const int32_t* id = cp == kInvalidCodePoint ? nullptr : char_id_.find(cp);
      if (id) {
        known(*id);
        continue;
      }
      bool all_bytes = options_.byte_fallback;
      for (size_t k = start; all_bytes && k < i; ++k) all_bytes = byte_fallback_id_[static_cast<uint8_t>(word[k])] >= 0;
      if (all_bytes) {
        for (size_t k = start; k < i; ++k) push(byte_fallback_id_[static_cast<uint8_t>(word[k])]);
      } else {
        unknown();
      }
    }
  }
  if (pending_unk) push(unk_id_);
  if (!symbols.empty()) symbols.back().next = -1;
}

void BpeModel::merge_symbols(BpeScratch& scratch) const {
  auto& symbols = scratch.symbols;
  auto& heap = scratch.heap;
  heap.clear();
  const auto consider = [&](int32_t pos) {
    const auto& s = symbols[pos];
    if (const Merge* m = merges_.find(pair_key(s.id, symbols[s.next].id))) {
      heap.push_back({m->rank, pos, m->new_id});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) consider(pos);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const BpeScratch::Candidate top = heap.back();
    heap.pop_back();
    auto& s = symbols[top.pos];
    if (!s.alive || s.next < 0) continue;
    auto& right = symbols[s.next];
    // Stale entry: the pair at this position changed since it was pushed (HF compares the
    // merged id only, so do we).
    const Merge* m = merges_.find(pair_key(s.id, right.id));
    if (!m || m->new_id != top.new_id) continue;
    s.id = top.new_id;
    right.alive = false;
    s.next = right.next;
    if (s.next >= 0) symbols[s.next].prev = top.pos;
    if (s.prev >= 0) consider(s.prev);
    if (s.next >= 0) consider(top.pos);
  }
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out, BpeScratch& scratch) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    const auto& words = options_.byte_level ? word_to_id_ : spelling_to_id_;
    auto it = words.find(word);
    if (it != words.end()) {
      out.push_back(it->second);
      return;
    }
  }
  add_initial_symbols(word, scratch);
  if (scratch.symbols.size() > 1) merge_symbols(scratch);
  for (const auto& s : scratch.symbols) {
    if (s.alive) out.push_back(s.id);
  }
}

}  // namespace ob1q::text
