#include "ob1q/model/decoder.hpp"

#include <ATen/ATen.h>

#include <sstream>

#include "ob1q/common/error.hpp"

namespace ob1q::model {

at::Tensor Linear::operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }

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

at::Tensor WeightReader::get_optional(const std::string& name, const std::vector<int64_t>& shape, bool block_weight) const {
  return src_.has(name) ? get(name, shape, block_weight) : at::Tensor();
}

std::unique_ptr<DecoderModel> DecoderModel::load(const io::ModelConfig& cfg, const io::WeightSource& src,
                                                 const LoadOptions& opts) {
  WeightReader reader(src, opts);
  if (cfg.is_llama()) return make_llama(cfg, reader, opts);
  if (cfg.is_opt()) return make_opt(cfg, reader, opts);
  fail(cfg.source, "unsupported model_type \"" + cfg.model_type + "\"");
}

std::unique_ptr<DecoderModel> DecoderModel::load(const std::string& dir, const LoadOptions& opts) {
  io::ModelConfig cfg = io::ModelConfig::load(dir);
  auto weights = io::open_weights(dir);
  return load(cfg, *weights, opts);
}

}  // namespace ob1q::model
