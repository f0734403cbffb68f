// Tokenizers, byte-exact with Hugging Face: SentencePiece (`tokenizer.model`) and byte-level BPE
// (`tokenizer.json`, GPT-2/OPT and LLaMA-3 pre-tokenizers; GPT-2's encoder.json + vocab.bpe).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ob1q::text {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // add_special = what HF's `tokenizer(text)` does (BOS/EOS per tokenizer_config.json and the
  // post-processor); false = `add_special_tokens=False`.
  // parse_special = text spelling a special token ("<unk>", "</s>") becomes that token, as HF does
  // by default; false = it is ordinary text (HF's split_special_tokens=True, SentencePiece's own
  // encoder, llama.cpp's perplexity).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special = true,
                                      bool parse_special = true) const = 0;
  // The convention for evaluation and calibration text: SentencePiece vocabularies (LLaMA-1/2)
  // treat special-token text as ordinary text, byte-level BPE tokenizers (OPT, LLaMA-3) parse it
  // -- what the reference streams of each family were produced with.
  bool parses_special_in_corpora() const { return kind() != "sentencepiece"; }
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  // One past the largest id: every id encode() returns (vocabulary, added and post-processor
  // tokens) is in [0, vocab_size()).
  virtual int64_t vocab_size() const = 0;
  // The largest id encode() can return: compare it with the model's embedding rows at load.
  int32_t max_id() const { return static_cast<int32_t>(vocab_size() - 1); }
  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;
  virtual std::string kind() const = 0;  // "sentencepiece" | "bpe"
};

// Loads the tokenizer of a model (or tokenizer) directory: tokenizer.json / tokenizer.json.gz when
// present (what transformers 5 loads; it can differ from a tokenizer.model shipped beside it),
// else tokenizer.model (SentencePiece vocabulary, encoded the way transformers 5's LlamaTokenizer
// does), else GPT-2's encoder.json + vocab.bpe. tokenizer_config.json supplies the tokenizer
// class, legacy and special tokens; its add_bos_token / add_eos_token only count without
// tokenizer.json (with one, transformers 5 follows the file's post-processor).
// Throws ob1q::Error("<dir>: no tokenizer found (...)") when nothing usable is there.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

// Throws ob1q::Error("<where>: the tokenizer's largest id is N, the model's vocab_size is only M
// ...") when the tokenizer can produce ids the model's embedding (model_vocab_size rows) lacks.
void check_tokenizer_fits(const Tokenizer& tok, int64_t model_vocab_size, const std::string& where);

// Token ids that reach a model (calibration windows, evaluation streams) must be rows of its
// embedding: throws ob1q::Error("<where>: [window W, ]position P: token id X is outside the
// model's vocabulary (vocab_size V)") for the first id outside [0, vocab_size).
void check_token_ids(const std::vector<std::vector<int32_t>>& windows, int64_t vocab_size, const std::string& where);
void check_token_ids(const std::vector<int32_t>& ids, int64_t vocab_size, const std::string& where);

}  // namespace ob1q::text
