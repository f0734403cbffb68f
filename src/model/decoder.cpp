#include "ob1q/model/decoder.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <sstream>

#include "ob1q/common/error.hpp"

namespace ob1q::model {

at::Tensor Linear::operator()(const at::Tensor& x) const {
  return packed ? packed->linear(x, bias) : at::linear(x, weight, bias);
}

namespace {
int64_t bytes_of(const at::Tensor& t) { return t.defined() ? t.numel() * int64_t(t.element_size()) : 0; }
}  // namespace

int64_t Linear::resident_bytes() const { return (packed ? packed->resident_bytes() : bytes_of(weight)) + bytes_of(bias); }

void Block::to(c10::Device device) {
  for (at::Tensor* t : tensors())
    if (t->defined()) *t = t->to(device);
}

Linear& Block::linear(const std::string& name) {
  for (auto& [n, l] : linears())
    if (n == name) return *l;
  fail("block", "no linear named \"" + name + "\"");
}

at::Tensor DecoderModel::block(int64_t i, const at::Tensor& h, const LinearObserver* observe) const {
  return blocks_.at(i)->forward(h, observe);
}

at::Tensor DecoderModel::forward(const at::Tensor& ids) const {
  at::Tensor h = embed(ids);
  for (int64_t i = 0; i < num_blocks(); ++i) h = block(i, h);
  return head(h);
}

CachedKV append_kv(at::Tensor& k_cache, at::Tensor& v_cache, const at::Tensor& k, const at::Tensor& v, const Step& step) {
  k_cache.index_copy_(2, step.pos, k);
  v_cache.index_copy_(2, step.pos, v);
  if (step.whole_cache()) return {k_cache, v_cache, step.visible};
  const int64_t T = k.size(2), L = step.start + T;
  CachedKV c{k_cache.narrow(2, 0, L), v_cache.narrow(2, 0, L), at::Tensor()};
  if (T > 1) {
    const auto opts = at::TensorOptions().dtype(at::kLong).device(k.device());
    c.visible = at::arange(L, opts).unsqueeze(0) <= at::arange(step.start, L, opts).unsqueeze(1);  // [T, L]
  }
  return c;
}

KVCache DecoderModel::new_cache(int64_t batch, int64_t capacity) const {
  KVCache c;
  c.capacity = capacity;
  const auto opts = at::TensorOptions().dtype(options_.dtype).device(options_.device);
  for (int64_t i = 0; i < num_blocks(); ++i) {
    c.k.push_back(at::zeros({batch, config_.num_kv_heads, capacity, config_.head_dim}, opts));
    c.v.push_back(at::zeros({batch, config_.num_kv_heads, capacity, config_.head_dim}, opts));
  }
  return c;
}

at::Tensor DecoderModel::forward_step(const at::Tensor& ids, KVCache& cache, const Step& step, bool last_only) const {
  const int64_t T = ids.size(1);
  if (!step.whole_cache() && step.start + T > cache.capacity)
    fail("generation", "position " + std::to_string(step.start + T) + " exceeds the cache of " +
                           std::to_string(cache.capacity) + " positions");
  at::Tensor h = embed_at(ids, step);
  for (int64_t i = 0; i < num_blocks(); ++i) h = blocks_[i]->forward_cached(h, cache.k[i], cache.v[i], step);
  if (last_only) h = h.narrow(1, T - 1, 1);
  if (!step.whole_cache()) cache.length = std::max(cache.length, step.start + T);
  return head(h);
}

int64_t DecoderModel::linear_resident_bytes() const {
  int64_t n = 0;
  for (const auto& b : blocks_)
    for (auto& [name, l] : b->linears()) n += l->resident_bytes();
  return n;
}

int64_t DecoderModel::resident_bytes() const {
  int64_t n = linear_resident_bytes();
  for (const auto& b : blocks_) {
    std::vector<const at::Tensor*> in_linears;
    for (auto& [name, l] : b->linears()) in_linears.insert(in_linears.end(), {&l->weight, &l->bias});
    for (at::Tensor* t : b->tensors())
      if (std::find(in_linears.begin(), in_linears.end(), t) == in_linears.end()) n += bytes_of(*t);
  }
  std::vector<const void*> seen;  // a tied head shares the embedding's storage
  for (const at::Tensor* t : outer_tensors()) {
    if (!t->defined()) continue;
    const void* p = t->data_ptr();
    if (std::find(seen.begin(), seen.end(), p) != seen.end()) continue;
    seen.push_back(p);
    n += bytes_of(*t);
  }
  return n;
}

namespace {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << "]";
  return o.str();
}

}  // namespace

at::Tensor WeightReader::get(const std::string& name, const std::vector<int64_t>& shape, bool block_weight) const {
  if (!src_.has(name)) fail(src_.location(), "missing tensor \"" + name + "\"");
  std::vector<int64_t> have = src_.shape(name);
  if (have != shape)
    fail(src_.location(), "tensor \"" + name + "\" has shape " + shape_str(have) + ", config.json implies " +
                              shape_str(shape));
  c10::Device dev = block_weight && opts_.stream_blocks ? c10::Device(c10::kCPU) : opts_.device;
  return src_.load(name, opts_.dtype, dev);
}

Linear WeightReader::linear(const std::string& name, int64_t out, int64_t in, bool bias) const {
  Linear l;
  if (opts_.packed && !opts_.stream_blocks) l.packed = src_.load_packed(name + ".weight", opts_.device);
  if (l.packed) {
    if (l.packed->rows() != out || l.packed->cols() != in)
      fail(src_.location(), "packed tensor \"" + name + "\" has shape [" + std::to_string(l.packed->rows()) + ", " +
                                std::to_string(l.packed->cols()) + "], config.json implies [" + std::to_string(out) +
                                ", " + std::to_string(in) + "]");
  } else {
    l.weight = get(name + ".weight", {out, in}, true);
  }
  if (bias) l.bias = get(name + ".bias", {out}, true);
  return l;
}

at::Tensor WeightReader::get_optional(const std::string& name, const std::vector<int64_t>& shape, bool block_weight) const {
  return src_.has(name) ? get(name, shape, block_weight) : at::Tensor();
}

std::unique_ptr<DecoderModel> DecoderModel::load(const io::ModelConfig& cfg, const io::WeightSource& src,
                                                 const LoadOptions& opts) {
  WeightReader reader(src, opts);
  return family_table(cfg.model_type).make(cfg, reader, opts);
}

std::unique_ptr<DecoderModel> DecoderModel::load(const std::string& dir, const LoadOptions& opts) {
  io::ModelConfig cfg = io::ModelConfig::load(dir);
  auto weights = io::open_weights(dir);
  return load(cfg, *weights, opts);
}

}  // namespace ob1q::model
