// Encoding through the HF tokenizers pipeline: added tokens are cut out first, each remaining
// section is normalized, pre-tokenized into words, and each word is merged by the BPE model.
#include "ob1q/text/hf_tokenizer.hpp"

#include <algorithm>
#include <deque>
#include <unordered_map>

#include "ob1q/common/error.hpp"
#include "ob1q/text/json_input.hpp"
#include "ob1q/text/tokenizer_sources.hpp"
#include "ob1q/text/unicode.hpp"
#include "ob1q/text/unicode_nfc.hpp"

namespace ob1q::text {

namespace {

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  for (size_t hit = s.find(from); hit != std::string::npos; hit = s.find(from, pos)) {
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  s.swap(out);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Rust's char::is_whitespace is the White_Space property, our Space class.
bool is_space_at(std::string_view s, size_t i, size_t* next) {
  const uint32_t cp = decode_utf8(s, i);
  *next = i;
  return char_class(cp) == CharClass::Space;
}

bool is_word_char(uint32_t cp) {
  const CharClass c = char_class(cp);
  return c == CharClass::Letter || c == CharClass::Number || cp == '_';
}

// Last code point of s (kInvalidCodePoint when empty).
uint32_t last_code_point(std::string_view s) {
  if (s.empty()) return kInvalidCodePoint;
  size_t start = s.size() - 1;
  while (start > 0 && s.size() - start < 4 && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
  size_t i = start;
  return decode_utf8(s, i);
}

constexpr size_t kMaxCachedWord = 256;  // longer words are rare; caching them only costs memory

}  // namespace

// Per-call state: storage for the strings normalizers and pre-tokenizers create, and a cache of
// word -> ids (text is Zipfian: most words repeat). Local to one encode() call, so the
// tokenizer itself stays immutable and thread-safe.
class HfTokenizer::Encoder {
 public:
  explicit Encoder(const HfTokenizer& t) : t_(t) {}

  void encode_section(const Section& section, std::vector<int32_t>& out) {
    std::string_view text = section.text;
    if (!t_.pipe_.normalizers.empty()) text = normalize(text);
    pieces_.clear();
    pieces_.push_back({text, section.offset == 0});
    for (const PreTokenizerStep& step : t_.pipe_.pre_tokenizers) {
      next_.clear();
      for (const Piece& p : pieces_) pre_tokenize(step, p);
      pieces_.swap(next_);
    }
    for (const Piece& p : pieces_) encode_word(p.text, out);
  }

 private:
  std::string_view keep(std::string s) {
    storage_.push_back(std::move(s));
    return storage_.back();
  }

  std::string_view normalize(std::string_view text) {
    std::string s(text);
    for (const NormalizerStep& n : t_.pipe_.normalizers) {
      if (n.kind == NormalizerStep::Prepend) {
        if (!s.empty()) s.insert(0, n.content);
      } else if (n.kind == NormalizerStep::Nfc) {
        s = nfc(s);
      } else {
        replace_all(s, n.pattern, n.content);
      }
    }
    return keep(std::move(s));
  }

  // Appends the pieces of `parts_` (cuts of the text at `base`, what one step made of piece p) to
  // next_; a piece is still at the start of the input when it begins that text (a Split that
  // removes its first match leaves none there, as HF's offsets say).
  void emit_parts(const Piece& p, const char* base) {
    for (std::string_view part : parts_) next_.push_back({part, p.at_start && part.data() == base});
  }

  void pre_tokenize(const PreTokenizerStep& step, const Piece& p) {
    parts_.clear();
    const char* base = p.text.data();
    switch (step.kind) {
      case PreTokenizerStep::ByteLevel: {
        std::string_view t = p.text;
        if (step.add_prefix_space && !starts_with(t, " ")) t = keep(" " + std::string(t));
        base = t.data();
        if (step.use_regex) {
          split_by_pattern(SplitPattern::Gpt2, t, parts_);
        } else {
          parts_.push_back(t);
        }
        break;
      }
      case PreTokenizerStep::Split:
        if (step.literal.empty() && step.behavior == SplitBehavior::Isolated) {
          split_by_pattern(step.pattern, p.text, parts_);  // the usual case: every piece, as the scanner cuts them
          break;
        }
        spans_.clear();
        if (step.literal.empty()) {
          find_regex_matches(step.pattern, p.text, spans_);
        } else {
          find_literal_matches(p.text, step.literal, spans_);
        }
        split_spans(spans_, step.behavior, step.invert, parts_);
        break;
      case PreTokenizerStep::Metaspace: {
        const std::string& rep = step.replacement;
        std::string s(p.text);
        replace_all(s, " ", rep);
        const bool prepend = step.prepend == PrependScheme::Always || (step.prepend == PrependScheme::First && p.at_start);
        if (prepend && !starts_with(s, rep)) s.insert(0, rep);
        const std::string_view t = keep(std::move(s));
        base = t.data();
        if (!step.split) {
          parts_.push_back(t);
          break;
        }
        // MergedWithNext: every replacement starts a new piece.
        size_t from = 0;
        for (size_t hit = t.find(rep, 1); hit != std::string_view::npos; hit = t.find(rep, hit + rep.size())) {
          parts_.push_back(t.substr(from, hit - from));
          from = hit;
        }
        parts_.push_back(t.substr(from));
        break;
      }
    }
    emit_parts(p, base);
  }

  void encode_word(std::string_view word, std::vector<int32_t>& out) {
    const std::string& marker = t_.chunk_marker_;
    if (marker.empty() || word.size() <= kMaxCachedWord) {
      encode_cached(word, out);
      return;
    }
    // Cut before each marker that follows a non-marker character; no token spans such a cut.
    size_t from = 0;
    for (size_t hit = word.find(marker, 1); hit != std::string_view::npos; hit = word.find(marker, hit + 1)) {
      if (hit >= marker.size() && word.compare(hit - marker.size(), marker.size(), marker) == 0) continue;
      if (hit - from > 0) encode_cached(word.substr(from, hit - from), out);
      from = hit;
    }
    encode_cached(word.substr(from), out);
  }

  void encode_cached(std::string_view word, std::vector<int32_t>& out) {
    if (word.size() > kMaxCachedWord) {
      t_.model_.encode_word(word, out, scratch_);
      return;
    }
    auto it = cache_.find(word);
    if (it == cache_.end()) {
      const size_t begin = arena_.size();
      t_.model_.encode_word(word, arena_, scratch_);
      it = cache_.emplace(word, std::make_pair(static_cast<uint32_t>(begin), static_cast<uint32_t>(arena_.size() - begin)))
               .first;
    }
    out.insert(out.end(), arena_.begin() + it->second.first, arena_.begin() + it->second.first + it->second.second);
  }

  const HfTokenizer& t_;
  std::deque<std::string> storage_;  // deque: growing it never moves the strings views point to
  std::vector<Piece> pieces_, next_;
  std::vector<std::string_view> parts_;
  std::vector<SplitSpan> spans_;
  std::unordered_map<std::string_view, std::pair<uint32_t, uint32_t>> cache_;  // word -> arena span
  std::vector<int32_t> arena_;
  BpeScratch scratch_;
};

HfTokenizer::HfTokenizer(BpeModel model, HfPipeline pipeline, const std::string& where)
    : model_(std::move(model)), pipe_(std::move(pipeline)) {
  const auto& steps = pipe_.pre_tokenizers;
  for (size_t k = 0; k < steps.size(); ++k) {
    if (steps[k].kind != PreTokenizerStep::ByteLevel) continue;
    if (k + 1 != steps.size()) fail(where, "a ByteLevel pre-tokenizer must be the last one");
    byte_level_ = true;
  }
  if (byte_level_ != model_.options().byte_level)
    fail(where, byte_level_ ? "ByteLevel pre-tokenizer with a vocabulary that is not byte-level"
                            : "byte-level vocabulary without a ByteLevel pre-tokenizer");
  // Chunking is exact only when merges cannot reach across the cut, and the model sees the same
  // words: no ignore_merges (it looks at whole words). The marker is what stands for spaces in
  // SentencePiece-style pipelines: Metaspace's replacement, or the one character a Replace
  // normalizer writes (GemmaTokenizer). It must be a token: an unknown marker would fuse with the
  // unknown characters before it into one unk token.
  if (!byte_level_ && !model_.options().ignore_merges) {
    std::vector<std::string_view> markers;
    for (const NormalizerStep& n : pipe_.normalizers) {
      if (n.kind == NormalizerStep::Replace && is_one_character(n.content)) markers.push_back(n.content);
    }
    for (const PreTokenizerStep& s : steps) {
      if (s.kind == PreTokenizerStep::Metaspace) markers.push_back(s.replacement);
    }
    for (std::string_view m : markers) {
      if (model_.token_id(m) >= 0 && !model_.has_token_with_inner(m)) chunk_marker_ = std::string(m);
    }
  }
  index_added_tokens(where);
  // The post-processor's ids go into every sequence, and from there into the embedding.
  for (const auto* ids : {&pipe_.prefix, &pipe_.suffix}) {
    for (int32_t id : *ids) {
      if (id < 0 || id >= vocab_size())
        fail(where, "the post-processor adds id " + std::to_string(id) +
                        ", which is not a token (the vocabulary has ids 0.." + std::to_string(vocab_size() - 1) + ")");
    }
  }
}

// Added tokens are looked up by id, so the table is sized by the largest one: ids are checked
// first. Each content and each id names one token: HF would give a repeated content or a content
// of the vocabulary another id than the file states (it warns and uses its own).
void HfTokenizer::index_added_tokens(const std::string& where) {
  const auto& added = pipe_.added_tokens;
  const int64_t defined = model_.size() + static_cast<int64_t>(added.size());
  int32_t max_id = -1;
  std::unordered_map<std::string_view, int32_t> id_of_content;
  for (size_t k = 0; k < added.size(); ++k) {
    const AddedToken& a = added[k];
    if (a.content.empty() || a.id < 0) fail(where, "invalid added token '" + a.content + "'");
    const auto name = [&] { return "added token " + quote_text(a.content); };
    if (a.id >= token_id_bound(defined)) fail_far_id(a.id, defined, where, name() + " has id");
    const int32_t vocab_id = model_.token_id(a.content);
    if (vocab_id >= 0 && vocab_id != a.id)
      fail(where, name() + " has id " + std::to_string(a.id) + ", the vocabulary gives it id " +
                      std::to_string(vocab_id));
    const auto [seen, fresh] = id_of_content.emplace(a.content, a.id);
    if (!fresh)
      fail(where, name() + " appears twice (ids " + std::to_string(seen->second) + " and " + std::to_string(a.id) +
                      ")");
    added_by_first_byte_[static_cast<uint8_t>(a.content[0])].push_back(static_cast<int32_t>(k));
    max_id = std::max(max_id, a.id);
  }
  for (auto& list : added_by_first_byte_) {
    std::stable_sort(list.begin(), list.end(),
                     [&](int32_t a, int32_t b) { return added[a].content.size() > added[b].content.size(); });
  }
  added_by_id_.assign(static_cast<size_t>(max_id + 1), nullptr);
  for (const AddedToken& a : added) {
    if (const AddedToken* other = added_by_id_[a.id])
      fail(where, "added tokens " + quote_text(other->content) + " and " + quote_text(a.content) + " both have id " +
                      std::to_string(a.id));
    added_by_id_[a.id] = &a;
  }
}

int64_t HfTokenizer::vocab_size() const {
  return std::max<int64_t>(model_.size(), static_cast<int64_t>(added_by_id_.size()));
}

// Leftmost-longest matching of the added tokens (HF uses an Aho-Corasick automaton with that
// match kind), then HF's single_word / lstrip / rstrip adjustments.
void HfTokenizer::split_added_tokens(std::string_view text, bool parse_special, std::vector<Section>& out) const {
  size_t last = 0;  // end of the previous match
  size_t i = 0;
  while (i < text.size()) {
    const auto& candidates = added_by_first_byte_[static_cast<uint8_t>(text[i])];
    const AddedToken* hit = nullptr;
    for (int32_t k : candidates) {
      const AddedToken& a = pipe_.added_tokens[k];
      if (a.special && !parse_special) continue;
      if (text.compare(i, a.content.size(), a.content) == 0) {
        hit = &a;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + hit->content.size();
    i = stop;
    if (hit->single_word) {
      const bool word_before = is_word_char(last_code_point(text.substr(0, start)));
      size_t after = stop;
      const bool word_after = stop < text.size() && is_word_char(decode_utf8(text, after));
      if (word_before || word_after) continue;  // the match is dropped, as HF does
    }
    if (hit->lstrip) {
      // Start of the whitespace run that ends at `start`, not before the previous match.
      size_t run = start, k = last;
      while (k < start) {
        size_t next;
        const bool space = is_space_at(text, k, &next);
        if (!space) run = start;
        if (space && run == start) run = k;
        k = next;
      }
      start = run;
    }
    if (hit->rstrip) {
      size_t next;
      while (stop < text.size() && is_space_at(text, stop, &next)) stop = next;
      i = stop;
    }
    if (start > last) out.push_back({text.substr(last, start - last), last, -1});
    out.push_back({text.substr(start, stop - start), start, hit->id});
    last = stop;
  }
  if (last < text.size()) out.push_back({text.substr(last), last, -1});
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  if (add_special) out = pipe_.prefix;
  std::vector<Section> sections;
  split_added_tokens(text, parse_special, sections);
  Encoder encoder(*this);
  for (const Section& s : sections) {
    if (s.added_id >= 0) {
      out.push_back(s.added_id);
    } else {
      encoder.encode_section(s, out);
    }
  }
  if (add_special) out.insert(out.end(), pipe_.suffix.begin(), pipe_.suffix.end());
  return out;
}

std::string HfTokenizer::token_text(int32_t id) const {
  if (id >= 0 && id < static_cast<int32_t>(added_by_id_.size()) && added_by_id_[id]) return added_by_id_[id]->content;
  return model_.token(id);
}

}  // namespace ob1q::text
