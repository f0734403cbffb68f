// Writing a quantized model as a Hugging Face checkpoint directory, atomically: everything goes
// into <out>.partial-<pid> first and is renamed to <out> only when complete, so an interrupted
// or failed run never leaves a directory that looks like a checkpoint.
#pragma once
#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace ob1q::quant {

// Fake-quant checkpoint: the source's config and tokenizer files, one model.safetensors with
// every source tensor (replaced ones from `replaced`, cast to the source tensor's dtype; the rest
// byte-for-byte), and ob1q_report.json.
void write_fake_quant(const std::string& out, const std::string& source_dir,
                      const std::map<std::string, at::Tensor>& replaced, const nlohmann::json& report,
                      bool overwrite);

}  // namespace ob1q::quant
