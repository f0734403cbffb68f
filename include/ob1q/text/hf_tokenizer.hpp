// The Hugging Face tokenizers pipeline over a BPE model: added-token splitting, normalizers,
// pre-tokenizers, the model, the post-processor (special tokens) and the decoder. Every loader
// (tokenizer.json, tokenizer.model, GPT-2 files) describes its tokenizer as an HfPipeline.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ob1q/text/bpe_model.hpp"
#include "ob1q/text/pretokenize_regex.hpp"
#include "ob1q/text/split_delimiter.hpp"
#include "ob1q/text/tokenizer.hpp"

namespace ob1q::text {

// Text that is cut out of the input before anything else and becomes one id.
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = true;
  bool lstrip = false;       // also swallows the whitespace on its left
  bool rstrip = false;       // ... and on its right
  bool single_word = false;  // only matches when not inside a word
};

enum class PrependScheme { Always, First, Never };

struct NormalizerStep {
  enum Kind { Prepend, Replace, Nfc } kind;
  std::string pattern;  // Replace: the literal text replaced
  std::string content;  // Prepend: the prefix; Replace: the replacement
};

struct PreTokenizerStep {
  enum Kind { ByteLevel, Split, Metaspace } kind;
  explicit PreTokenizerStep(Kind k) : kind(k) {}
  bool add_prefix_space = false;                // ByteLevel
  bool use_regex = true;                        // ByteLevel: split with the GPT-2 pattern
  SplitPattern pattern = SplitPattern::Gpt2;    // Split: a known regex, when `literal` is empty
  std::string literal;                          // Split: a {"String": ...} pattern (never empty)
  SplitBehavior behavior = SplitBehavior::Isolated;  // Split
  bool invert = false;                          // Split
  std::string replacement = "\xE2\x96\x81";     // Metaspace: "▁"
  PrependScheme prepend = PrependScheme::Always;  // Metaspace
  bool split = true;                            // Metaspace: cut words before each replacement
};

struct DecoderStep {
  enum Kind { ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace } kind;
  explicit DecoderStep(Kind k) : kind(k) {}
  std::string pattern, content;  // Replace: pattern -> content; Strip: content (one character)
  size_t start = 0, stop = 0;    // Strip: how many leading / trailing `content` to remove
  std::string replacement = "\xE2\x96\x81";  // Metaspace
  PrependScheme prepend = PrependScheme::Always;  // Metaspace
};

struct HfPipeline {
  std::vector<AddedToken> added_tokens;
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;
  std::vector<int32_t> prefix, suffix;  // ids the post-processor puts around one sequence
  std::vector<DecoderStep> decoders;
  int32_t bos_id = -1, eos_id = -1;
  std::string kind = "bpe";
};

class HfTokenizer : public Tokenizer {
 public:
  // `where` names the source in errors (an unsupported combination of steps, token ids that are
  // out of bounds or given twice).
  HfTokenizer(BpeModel model, HfPipeline pipeline, const std::string& where);

  // Thread-safe: the tokenizer is immutable; each call uses its own word cache.
  std::vector<int32_t> encode(std::string_view text, bool add_special = true, bool parse_special = true) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override;
  int32_t bos_id() const override { return pipe_.bos_id; }
  int32_t eos_id() const override { return pipe_.eos_id; }
  std::string kind() const override { return pipe_.kind; }

  const BpeModel& model() const { return model_; }
  const HfPipeline& pipeline() const { return pipe_; }

 private:
  struct Section {
    std::string_view text;
    size_t offset;        // in the input
    int32_t added_id;     // >= 0: an added token
  };
  struct Piece {
    std::string_view text;
    bool at_start;  // begins at offset 0 of the input (Metaspace's "first" scheme)
  };
  class Encoder;  // the per-call state (pieces' storage, word cache)

  void index_added_tokens(const std::string& where);
  void split_added_tokens(std::string_view text, bool parse_special, std::vector<Section>& out) const;
  std::string token_text(int32_t id) const;

  BpeModel model_;
  HfPipeline pipe_;
  bool byte_level_ = false;  // the pre-tokenizers end with ByteLevel: words go to the model as bytes
  // Non-empty when words can be cut before each "▁" (Metaspace replacement, or what a Replace
  // normalizer writes) that follows another character without changing the result (no token
  // spans such a boundary): then long words (whole sentences when nothing splits them) are merged
  // in short, cacheable chunks.
  std::string chunk_marker_;
  std::array<std::vector<int32_t>, 256> added_by_first_byte_;  // longest first
  std::vector<const AddedToken*> added_by_id_;                  // dense by id (may be null)
};

}  // namespace ob1q::text
