// Calibration windows (methods.md §3): n windows of seqlen tokens drawn from C4 train documents
// with CPython's random (same seed -> same documents and offsets as the reference code), or loaded
// pre-sampled from a file.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ob1q/text/tokenizer.hpp"

namespace ob1q::text {

struct CalibrationSet {
  std::vector<std::vector<int32_t>> windows;   // nsamples x seqlen
  std::vector<std::array<int64_t, 3>> draws;   // (document index, offset, document tokens) per window
  std::string source;                          // file the windows came from
  std::string source_sha256;                   // sha256 of that file's bytes (as stored)
  std::string windows_sha256;                  // sha256 of all windows, little-endian int32, in order
};

// The reference rule: repeat n times { loop { i = randint(0, N-1); ids = tok(doc i) (with BOS) }
// until len(ids) > seqlen; o = randint(0, len - seqlen - 1); window = ids[o : o+seqlen] }.
// Throws ob1q::Error when no document is long enough.
// Special-token text in the documents follows tok.parses_special_in_corpora().
CalibrationSet sample_windows(const std::vector<std::string>& docs, const Tokenizer& tok, int64_t nsamples,
                              int64_t seqlen, uint64_t seed);

// Pre-sampled windows. Formats (by content):
//  * JSON: {"seqlen": L, "windows": [[id, ...], ...]} (each window exactly L ids), or a bare array of windows;
//  * raw little-endian int32 (any other file): nsamples x seqlen ids back to back; `seqlen` must be given.
// `seqlen` (> 0) is checked against the file; windows beyond `nsamples` (> 0) are dropped.
// Every id must be an integer in [0, 2^31) (JSON floats, strings and out-of-range numbers are
// refused, never wrapped); whether ids fit the model is check_token_ids' question (tokenizer.hpp).
// Each problem is one ob1q::Error naming the file and, for ids, the window and position.
CalibrationSet load_windows(const std::string& path, int64_t nsamples, int64_t seqlen);

}  // namespace ob1q::text
