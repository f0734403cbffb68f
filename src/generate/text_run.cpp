// `ob1q generate` as one library call: model + tokenizer, streamed text, JSON record.
#include <ATen/ATen.h>

#include "ob1q/common/device_memory.hpp"
#include "ob1q/common/error.hpp"
#include "ob1q/generate/generate.hpp"
#include "ob1q/pack/checkpoint.hpp"
#include "ob1q/text/tokenizer.hpp"

namespace ob1q::generate {

namespace {

// Text of `ids` continuing `prompt_ids`: decoded together, so that a SentencePiece word-initial
// space or a byte sequence split across tokens comes out as the tokenizer would print it.
class TextStream {
 public:
  TextStream(const text::Tokenizer& tok, std::vector<int32_t> prompt) : tok_(tok), prompt_(std::move(prompt)) {
    base_ = tok_.decode(prompt_);
  }
  // The text added by the newest token ("" while it ends inside a UTF-8 character).
  std::string push(int32_t id) {
    ids_.push_back(id);
    std::vector<int32_t> all = prompt_;
    all.insert(all.end(), ids_.begin(), ids_.end());
    std::string full = tok_.decode(all);
    std::string text = full.compare(0, base_.size(), base_) == 0 ? full.substr(base_.size()) : tok_.decode(ids_);
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) return "";  // incomplete character
    if (text.compare(0, printed_.size(), printed_) != 0) return "";  // rewrote earlier text: wait for stability
    std::string add = text.substr(printed_.size());
    printed_ = text;
    return add;
  }
  std::string text() const {
    std::vector<int32_t> all = prompt_;
    all.insert(all.end(), ids_.begin(), ids_.end());
    std::string full = tok_.decode(all);
    return full.compare(0, base_.size(), base_) == 0 ? full.substr(base_.size()) : tok_.decode(ids_);
  }
  const std::string& printed() const { return printed_; }

 private:
  const text::Tokenizer& tok_;
  std::vector<int32_t> prompt_, ids_;
  std::string base_, printed_;
};

}  // namespace

nlohmann::json generate_text(const TextRun& run) {
  auto tok = text::load_tokenizer(run.model_dir);
  const std::vector<int32_t> prompt = tok->encode(run.prompt, /*add_special=*/true, /*parse_special=*/true);
  if (prompt.empty()) fail("--prompt", "encodes to no tokens");
  auto m = model::DecoderModel::load(run.model_dir, run.load);
  for (int32_t id : prompt)
    if (id < 0 || id >= m->config().vocab_size)
      fail(run.model_dir, "the tokenizer gives id " + std::to_string(id) + ", outside the model's vocabulary of " +
                              std::to_string(m->config().vocab_size));
  Options o = run.gen;
  if (o.eos_id < 0) o.eos_id = tok->eos_id() >= 0 ? tok->eos_id() : int32_t(m->config().eos_token_id);
  TextStream stream(*tok, prompt);
  o.on_token = [&](int32_t id) {
    const std::string add = stream.push(id);
    if (!add.empty() && run.on_text) run.on_text(add);
  };
  const Result r = generate(*m, {prompt}, o);
  const std::string text = stream.text();
  if (run.on_text && text.size() > stream.printed().size() && text.compare(0, stream.printed().size(), stream.printed()) == 0)
    run.on_text(text.substr(stream.printed().size()));
  return {{"command", "generate"},
          {"model", run.model_dir},
          {"packed_checkpoint", pack::is_packed(run.model_dir)},
          {"weights", run.load.packed && pack::is_packed(run.model_dir) ? "packed" : "dense"},
          {"device", run.load.device.str()},
          {"device_name", device_name(run.load.device)},
          {"dtype", c10::toString(run.load.dtype)},
          {"prompt", run.prompt},
          {"prompt_ids", prompt},
          {"text", text},
          {"token_ids", r.tokens.at(0)},
          {"temperature", o.sampling.temperature},
          {"top_p", o.sampling.top_p},
          {"seed", o.sampling.seed},
          {"prefill_tokens", r.prefill_tokens},
          {"decode_tokens", r.decode_tokens},
          {"prefill_tokens_per_s", r.prefill_tokens_per_s()},
          {"decode_tokens_per_s", r.decode_tokens_per_s()},
          {"cuda_graph", r.graph},
          {"logit_margins", r.margins},
          {"weights_bytes", m->resident_bytes()},
          {"linear_weights_bytes", m->linear_resident_bytes()}};
}

}  // namespace ob1q::generate
