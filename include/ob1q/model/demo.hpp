// The demo model a fresh clone can run without any download: a LLaMA-architecture checkpoint
// whose head encodes a byte-bigram language model counted from text the project ships (its own
// documentation), with small random decoder blocks so that quantization has real work to do.
#pragma once
#include <string>

namespace ob1q::model {

// Writes <out>/model (config.json, model.safetensors, tokenizer.json: byte-level BPE without
// merges, BOS "<s>") trained on `train_text`, and <out>/data/wikitext2/raw/wiki.test.raw =
// `test_text`, so that `ob1q eval --model <out>/model --data-dir <out>/data` works.
void write_demo(const std::string& out, const std::string& train_text, const std::string& test_text);

}  // namespace ob1q::model
