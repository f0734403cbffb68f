// Evaluation and calibration text: the standard files and the exact joins of methods.md §3 and §21.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ob1q/text/tokenizer.hpp"

namespace ob1q::text {

// billm (default, = GPTQ's "new" eval): wikitext2 test rows joined "\n\n"; ptb test sentences
// stripped and joined " "; c4 = first 1100 validation docs joined " ", truncated to 256 windows.
// gptq: ptb = validation split joined "\n\n"; c4 = 256 random windows (random.seed(0)) from
// validation docs with >= seqlen tokens.
enum class PplVariant { Billm, Gptq };
PplVariant parse_ppl_variant(const std::string& s);

// A dataset argument is NAME (wikitext2 | ptb | c4, file found under data_dir) or NAME=PATH.
struct DatasetSpec {
  std::string name;
  std::string path;
};
// Throws ob1q::Error when the name is unknown or no file is found (listing the places tried).
DatasetSpec resolve_ppl_dataset(const std::string& arg, const std::string& data_dir, PplVariant variant);
// Default C4 calibration file (train shard 0) under data_dir.
std::string resolve_c4_train(const std::string& data_dir);

// Readers for the standard release formats; each throws ob1q::Error naming the file when it is
// missing, unreadable or empty.
std::vector<std::string> read_wikitext_rows(const std::string& path);  // HF rows: line + "\n", blank -> ""
std::vector<std::string> read_lines_stripped(const std::string& path);  // PTB sentences
std::vector<std::string> read_c4_docs(const std::string& path, size_t max_docs = SIZE_MAX);  // .json array or .jsonl, .gz ok

struct TokenStream {
  std::vector<int32_t> ids;  // what is evaluated
  int64_t tokens_total = 0;  // stream length before truncation
  std::string ids_sha256;    // sha256 of the whole stream (before truncation), little-endian int32
};
// parse_special: see Tokenizer::encode (callers default to tok.parses_special_in_corpora()).
TokenStream ppl_token_stream(const DatasetSpec& ds, const Tokenizer& tok, PplVariant variant, int64_t seqlen,
                             bool parse_special);

std::string sha256_of_ids(const std::vector<int32_t>& ids);

}  // namespace ob1q::text
