// Readers of the tokenizer files: each yields a BPE vocabulary with ranked merges and its added
// tokens; tokenizer.json also describes its pipeline. tokenizer.cpp assembles the tokenizer.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ob1q/text/bpe_model.hpp"
#include "ob1q/text/hf_tokenizer.hpp"

namespace ob1q::text {

struct BpeSource {
  std::vector<std::string> tokens;  // by id
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  BpeOptions options;
  std::vector<AddedToken> added_tokens;
};

struct TokenizerJson {
  BpeSource bpe;
  HfPipeline pipeline;  // normalizers, pre-tokenizers, post-processor, decoders (no ids for BOS/EOS)
};

// Tables indexed by token id are sized by the largest id, so ids are held to what the file
// defines: below token_id_bound(defined) = min(2 * defined + 1024, 2^24), which leaves room for
// holes (real vocabularies have few) but not for one id of 10^8 in a 60-byte file.
int64_t token_id_bound(int64_t defined);
// Fails with "<where>: <subject> <id>, far beyond the <defined> ids defined (ids must be below B)".
[[noreturn]] void fail_far_id(int64_t id, int64_t defined, const std::string& where, const std::string& subject);
// Spellings by id from the (spelling, id) entries of `what` (e.g. "model.vocab"; "" when the file
// itself is the map), ids already in [0, 2^31): ids below token_id_bound, no id given twice.
// Unused ids get "".
std::vector<std::string> tokens_by_id(const std::vector<std::pair<std::string, int32_t>>& entries,
                                      const std::string& where, const std::string& what);

// HF tokenizers' tokenizer.json (gzip-compressed content is accepted). Throws Error naming the
// file for bad JSON and for models / steps this implementation does not support.
TokenizerJson read_tokenizer_json(const std::string& path);

// GPT-2's encoder.json (token -> id) and vocab.bpe (one merge per line after "#version").
BpeSource read_gpt2_files(const std::string& encoder_path, const std::string& merges_path);

// A SentencePiece tokenizer.model converted the way transformers does it (SentencePieceExtractor):
// vocabulary = the pieces; merges = every split of a piece into two pieces, ranked by the piece's
// score. Unknown and control pieces become special added tokens, user-defined ones plain added
// tokens. Returns false (source untouched) when the model is not of type BPE.
bool read_sentencepiece_bpe(const std::string& path, BpeSource& source);

// The merges transformers derives from a scored vocabulary (generate_merges with scores).
std::vector<std::pair<std::string, std::string>> merges_from_scores(const std::vector<std::string>& pieces,
                                                                    const std::vector<float>& scores);

}  // namespace ob1q::text
