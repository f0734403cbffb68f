// Decoder-only language models (the families of model/family.hpp) as plain LibTorch tensors,
// exposed block by block:
//   embed(ids) -> block(0) -> ... -> block(L-1) -> head(h) = logits
// so that the quantizer can stream calibration activations through one block at a time. Models
// know nothing about quantization: they read weights from an io::WeightSource and expose each
// block's linear layers by name so that others can replace or observe them.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ob1q/io/config.hpp"
#include "ob1q/io/weight_source.hpp"
#include "ob1q/kernels/packed_matrix.hpp"
#include "ob1q/model/family.hpp"

namespace ob1q::model {

// A linear layer: a dense weight, or a packed one that stays packed in memory (the model does
// not know how either was made).
struct Linear {
  at::Tensor weight;  // [out, in], undefined when packed
  at::Tensor bias;    // [out] or undefined
  std::shared_ptr<const kernels::PackedMatrix> packed;
  at::Tensor operator()(const at::Tensor& x) const;
  int64_t resident_bytes() const;  // weight (dense or packed) and bias
};

// Keys and values of every block, for incremental decoding: [B, kv_heads, capacity, head_dim]
// per block, positions [0, length) filled.
struct KVCache {
  std::vector<at::Tensor> k, v;
  int64_t capacity = 0;
  int64_t length = 0;
};

// Where the T tokens of one incremental forward sit. Eager steps attend over the filled prefix
// [0, start + T); a graph-replayable step (fixed shapes) attends over the whole cache with a
// visibility mask computed on the device.
struct Step {
  int64_t start = 0;   // first position (eager)
  at::Tensor pos;      // int64 [T] on the device: the positions
  at::Tensor visible;  // bool [T, capacity] (whole-cache steps only): key j visible to query i
  bool whole_cache() const { return visible.defined(); }
};

// Writes a block's new keys/values [B, Hkv, T, D] into its cache at step.pos and returns what its
// queries attend to: the filled prefix (eager steps) or the whole cache, and the visibility mask
// (undefined when every key is visible).
struct CachedKV {
  at::Tensor k, v, visible;
};
CachedKV append_kv(at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& k, const at::Tensor& v, const Step& step);

// Called with (linear name, its input) right before each linear runs; e.g. to accumulate Hessians.
using LinearObserver = std::function<void(const std::string&, const at::Tensor&)>;

class Block {
 public:
  virtual ~Block() = default;
  // h: [B, T, hidden] -> [B, T, hidden]; causal attention over T, positions 0..T-1.
  virtual at::Tensor forward(const at::Tensor& h, const LinearObserver* observe = nullptr) const = 0;
  // Incremental forward: h [B, T, hidden] at `step`'s positions; appends this block's keys and
  // values to k_cache / v_cache and attends over the cache.
  virtual at::Tensor forward_cached(const at::Tensor& h, at::Tensor& k_cache, at::Tensor& v_cache, const Step& step) const = 0;
  // The quantizable linears in the order of the forward pass (names as in HF, e.g. "self_attn.q_proj").
  virtual std::vector<std::pair<std::string, Linear*>> linears() = 0;
  // Every tensor the block holds (linears, norms), e.g. to move it between host and device.
  virtual std::vector<at::Tensor*> tensors() = 0;
  Linear& linear(const std::string& name);
  void to(c10::Device device);
};

struct LoadOptions {
  at::ScalarType dtype = at::kFloat;    // compute dtype
  c10::Device device = c10::Device(c10::kCPU);
  // Keep block weights in host memory (the quantizer moves one block at a time to `device` with
  // Block::to); embeddings and head always live on `device`.
  bool stream_blocks = false;
  // Quantized linears of a packed checkpoint stay packed (kernels::PackedMatrix); false: they are
  // dequantized to dense weights at load (`--weights dense`).
  bool packed = true;
};

class DecoderModel {
 public:
  virtual ~DecoderModel() = default;
  const io::ModelConfig& config() const { return config_; }
  const LoadOptions& options() const { return options_; }
  // Which linears a block has, which share an input, which is the final FC (model/family.hpp).
  const FamilyTable& family() const { return family_table(config_.model_type); }
  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }

  virtual at::Tensor embed(const at::Tensor& ids) const = 0;  // [B, T] int64 -> [B, T, hidden]
  virtual at::Tensor head(const at::Tensor& h) const = 0;     // [B, T, hidden] -> [B, T, vocab]
  at::Tensor block(int64_t i, const at::Tensor& h, const LinearObserver* observe = nullptr) const;
  Block& block_module(int64_t i) { return *blocks_.at(i); }
  // HF tensor-name prefix of block i, e.g. "model.layers.3." or "model.decoder.layers.3.".
  virtual std::string block_prefix(int64_t i) const = 0;
  at::Tensor forward(const at::Tensor& ids) const;  // full model: logits [B, T, vocab]

  // Incremental decoding: a cache for `batch` sequences of up to `capacity` positions, and the
  // forward of ids [B, T] at `step` (logits [B, T, vocab], or of the last token only).
  KVCache new_cache(int64_t batch, int64_t capacity) const;
  at::Tensor forward_step(const at::Tensor& ids, KVCache& cache, const Step& step, bool last_only) const;
  // Token embeddings at explicit positions (OPT adds learned positions; LLaMA's are in rope).
  virtual at::Tensor embed_at(const at::Tensor& ids, const Step& step) const { return embed(ids); }
  // Bytes of all weights as loaded (packed linears at their packed size), and of the linears only.
  int64_t resident_bytes() const;
  int64_t linear_resident_bytes() const;
  // Tensors the model holds outside its blocks (embeddings, final norm, head).
  virtual std::vector<const at::Tensor*> outer_tensors() const = 0;

  // Reads config.json + weights of a HF checkpoint directory (tensor shapes checked against the
  // config; mismatches throw ob1q::Error naming the tensor).
  static std::unique_ptr<DecoderModel> load(const std::string& dir, const LoadOptions& opts);
  static std::unique_ptr<DecoderModel> load(const io::ModelConfig& cfg, const io::WeightSource& src,
                                            const LoadOptions& opts);

 protected:
  io::ModelConfig config_;
  LoadOptions options_;
  std::vector<std::unique_ptr<Block>> blocks_;
};

// Reads tensors from a source with shape checks; shared by the model families.
class WeightReader {
 public:
  WeightReader(const io::WeightSource& src, const LoadOptions& opts) : src_(src), opts_(opts) {}
  // Loads `name`, checking its shape; onto the streaming device (host) when `block_weight`.
  at::Tensor get(const std::string& name, const std::vector<int64_t>& shape, bool block_weight = false) const;
  at::Tensor get_optional(const std::string& name, const std::vector<int64_t>& shape, bool block_weight = false) const;
  // A block's linear `name` (without ".weight"): packed when the source stores it packed and
  // LoadOptions::packed is set, else dense; with its bias when `bias`.
  Linear linear(const std::string& name, int64_t out, int64_t in, bool bias) const;
  bool has(const std::string& name) const { return src_.has(name); }

 private:
  const io::WeightSource& src_;
  const LoadOptions& opts_;
};

std::unique_ptr<DecoderModel> make_llama(const io::ModelConfig& cfg, const WeightReader& w, const LoadOptions& opts);
std::unique_ptr<DecoderModel> make_opt(const io::ModelConfig& cfg, const WeightReader& w, const LoadOptions& opts);
// The LLaMA-derived families other than LLaMA itself (qwen2, qwen3, mistral, phi3, gemma2).
std::unique_ptr<DecoderModel> make_rotary(const io::ModelConfig& cfg, const WeightReader& w, const LoadOptions& opts);

}  // namespace ob1q::model
