// SentencePiece BPE models as transformers 5 uses them: not through the SentencePiece encoder,
// but converted to an HF BPE model (vocabulary + merges derived from the piece scores) behind a
// Metaspace pre-tokenizer. The two differ on leading whitespace and on text that spells special
// tokens, and the reference ids come from the HF side. The model file is read directly from its
// protobuf encoding: linking the SentencePiece library into a LibTorch program is unsafe where
// both bring their own protobuf (Debian's libtorch-dev does), and the pieces are all we need.
#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "ob1q/common/error.hpp"
#include "ob1q/common/file.hpp"
#include "ob1q/text/flat_map.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tokenizer_sources.hpp"
#include "ob1q/text/unicode.hpp"

namespace ob1q::text {

namespace {

// Just enough of the protobuf wire format to read ModelProto.pieces[] (piece, score, type) and
// ModelProto.trainer_spec.model_type.
class ProtoReader {
 public:
  ProtoReader(std::string_view bytes, const std::string& where) : s_(bytes), where_(where) {}
  bool done() const { return pos_ >= s_.size(); }

  // Reads one field; for length-delimited ones `sub` views the payload.
  void next(uint32_t& field, uint64_t& value, std::string_view& sub) {
    const uint64_t key = varint();
    field = static_cast<uint32_t>(key >> 3);
    switch (key & 7) {
      case 0: value = varint(); break;
      case 1: skip(8); break;
      case 5: {  // fixed32, little-endian (floats)
        if (4 > s_.size() - pos_) bad();
        uint32_t v = 0;
        std::memcpy(&v, s_.data() + pos_, 4);
        value = v;
        pos_ += 4;
        break;
      }
      case 2: {
        const uint64_t len = varint();
        if (len > s_.size() - pos_) bad();
        sub = s_.substr(pos_, len);
        pos_ += len;
        break;
      }
      default: bad();
    }
  }

 private:
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= s_.size()) bad();
      const uint8_t b = static_cast<uint8_t>(s_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    bad();
  }
  void skip(size_t n) {
    if (n > s_.size() - pos_) bad();
    pos_ += n;
  }
  [[noreturn]] void bad() { fail(where_, "corrupt SentencePiece model"); }

  std::string_view s_;
  const std::string& where_;
  size_t pos_ = 0;
};

constexpr int kModelTypeUnigram = 1, kModelTypeBpe = 2;  // TrainerSpec.ModelType
constexpr int kPieceNormal = 1, kPieceUnknown = 2, kPieceControl = 3, kPieceUserDefined = 4;  // SentencePiece.Type

struct Piece {
  std::string text;
  float score = 0;
  int type = kPieceNormal;  // the proto default
};

struct ModelFacts {
  int model_type = kModelTypeUnigram;  // the proto default
  std::vector<Piece> pieces;
};

// Calls f(field, value, sub) for every field of one message.
template <class F>
void for_each_field(std::string_view bytes, const std::string& where, F&& f) {
  ProtoReader r(bytes, where);
  while (!r.done()) {
    uint32_t field = 0;
    uint64_t value = 0;
    std::string_view sub;
    r.next(field, value, sub);
    f(field, value, sub);
  }
}

ModelFacts read_model(std::string_view model, const std::string& where) {
  ModelFacts facts;
  for_each_field(model, where, [&](uint32_t field, uint64_t, std::string_view sub) {
    if (field == 1) {  // pieces
      Piece p;
      for_each_field(sub, where, [&](uint32_t f, uint64_t v, std::string_view s) {
        if (f == 1) p.text = std::string(s);
        if (f == 2) {
          uint32_t bits = static_cast<uint32_t>(v);
          std::memcpy(&p.score, &bits, 4);
        }
        if (f == 3) p.type = static_cast<int>(v);
      });
      facts.pieces.push_back(std::move(p));
    } else if (field == 2) {  // trainer_spec
      for_each_field(sub, where, [&](uint32_t f, uint64_t v, std::string_view) {
        if (f == 3) facts.model_type = static_cast<int>(v);
      });
    }
  });
  return facts;
}

// The pieces in a byte trie, read forwards or backwards: walking a string through it finds every
// prefix (suffix) of the string that is a piece in one pass. That keeps merges_from_scores linear
// in the length of a piece; looking up both halves of every split by hash was quadratic (a 200 KB
// piece took seconds, a 1 MB piece minutes).
class PieceTrie {
 public:
  PieceTrie(const std::vector<std::string>& pieces, bool backwards) : backwards_(backwards) {
    size_t bytes = 0;
    for (const std::string& p : pieces) bytes += p.size();
    child_.reserve(bytes);
    piece_at_.reserve(bytes + 1);
    piece_at_.push_back(-1);
    for (size_t k = 0; k < pieces.size(); ++k) {
      const std::string& p = pieces[k];
      uint32_t node = 0;
      for (size_t i = 0; i < p.size(); ++i) {
        const uint64_t key = edge(node, byte_at(p, i));
        if (const uint32_t* next = child_.find(key)) {
          node = *next;
        } else {
          node = static_cast<uint32_t>(piece_at_.size());
          piece_at_.push_back(-1);
          child_.set(key, node);
        }
      }
      if (piece_at_[node] < 0) piece_at_[node] = static_cast<int32_t>(k);  // a spelling's first id wins
    }
  }

  // found[n] = the piece spelled by the first (backwards: last) n bytes of s, or -1; 0 < n < s.size().
  void walk(std::string_view s, std::vector<int32_t>& found) const {
    found.assign(s.size(), -1);
    uint32_t node = 0;
    for (size_t n = 1; n < s.size(); ++n) {
      const uint32_t* next = child_.find(edge(node, byte_at(s, n - 1)));
      if (!next) return;
      node = *next;
      found[n] = piece_at_[node];
    }
  }

 private:
  static uint64_t edge(uint32_t node, uint8_t byte) { return static_cast<uint64_t>(node) << 8 | byte; }
  uint8_t byte_at(std::string_view s, size_t i) const {
    return static_cast<uint8_t>(backwards_ ? s[s.size() - 1 - i] : s[i]);
  }

  bool backwards_;
  FlatMap64<uint32_t> child_;      // (node, byte) -> node
  std::vector<int32_t> piece_at_;  // node -> piece id, or -1
};

}  // namespace

std::vector<std::pair<std::string, std::string>> merges_from_scores(const std::vector<std::string>& pieces,
                                                                    const std::vector<float>& scores) {
  const PieceTrie prefixes(pieces, false), suffixes(pieces, true);
  struct Candidate {
    int32_t left, right;
    float score;
    size_t left_len, right_len;  // in code points, as Python's len()
  };
  std::vector<Candidate> all, local;
  std::vector<int32_t> left_of, right_of;  // by the byte length of the half
  std::vector<size_t> cuts;                // character boundaries inside the piece
  for (size_t k = 0; k < pieces.size(); ++k) {
    const std::string& piece = pieces[k];
    cuts.clear();
    for (size_t i = 0; i < piece.size();) {
      decode_utf8(piece, i);
      if (i < piece.size()) cuts.push_back(i);
    }
    if (cuts.empty()) continue;
    prefixes.walk(piece, left_of);
    suffixes.walk(piece, right_of);
    local.clear();
    for (size_t c = 0; c < cuts.size(); ++c) {
      const int32_t l = left_of[cuts[c]], r = right_of[piece.size() - cuts[c]];
      if (l >= 0 && r >= 0) local.push_back({l, r, scores[k], c + 1, cuts.size() - c});
    }
    // A piece's own splits in the order of the ids of their halves.
    std::sort(local.begin(), local.end(),
              [](const Candidate& a, const Candidate& b) { return a.left != b.left ? a.left < b.left : a.right < b.right; });
    all.insert(all.end(), local.begin(), local.end());
  }
  // sorted(key=(score, len(left), len(right)), reverse=True): descending, stable.
  std::stable_sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_len != b.left_len) return a.left_len > b.left_len;
    return a.right_len > b.right_len;
  });
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(all.size());
  for (const Candidate& c : all) merges.emplace_back(pieces[c.left], pieces[c.right]);
  return merges;
}

bool read_sentencepiece_bpe(const std::string& path, BpeSource& source) {
  const ModelFacts facts = read_model(read_file_bytes(path), path);
  if (facts.pieces.empty()) fail(path, "corrupt SentencePiece model (no pieces)");
  if (facts.model_type != kModelTypeBpe) return false;
  const size_t n = facts.pieces.size();
  BpeSource src;
  std::vector<float> scores(n);
  src.tokens.resize(n);
  std::unordered_map<std::string_view, size_t> first_id;  // SentencePiece refuses a piece defined twice
  for (size_t k = 0; k < n; ++k) {
    const Piece& p = facts.pieces[k];
    const auto [seen, fresh] = first_id.emplace(p.text, k);
    if (!fresh)
      fail(path, "piece " + quote_text(p.text) + " appears twice (ids " + std::to_string(seen->second) + " and " +
                     std::to_string(k) + ")");
    src.tokens[k] = p.text;
    scores[k] = p.score;
    if (p.type == kPieceUnknown && src.options.unk_token.empty()) src.options.unk_token = p.text;
    if (p.type == kPieceUnknown || p.type == kPieceControl || p.type == kPieceUserDefined) {
      AddedToken t;
      t.content = p.text;
      t.id = static_cast<int32_t>(k);
      t.special = p.type != kPieceUserDefined;
      src.added_tokens.push_back(t);
    }
  }
  src.merges = merges_from_scores(src.tokens, scores);
  src.options.byte_fallback = true;  // transformers builds BPE(..., fuse_unk=True, byte_fallback=True)
  src.options.fuse_unk = true;
  source = std::move(src);
  return true;
}

}  // namespace ob1q::text
