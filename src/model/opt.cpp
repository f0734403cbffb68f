// OPT decoder (HF OPTForCausalLM): learned positions (offset 2), LayerNorm before (OPT-125m..)
// or after (OPT-350m) each sub-block, optional project_in/project_out when
// word_embed_proj_dim != hidden_size, head tied to the token embedding unless a separate
// lm_head is stored.
#include <ATen/ATen.h>

#include <cmath>

#include "ob1q/common/error.hpp"
#include "ob1q/model/attention.hpp"
#include "ob1q/model/decoder.hpp"

namespace ob1q::model {
namespace {

struct Norm {
  at::Tensor w, b;
  at::Tensor operator()(const at::Tensor& x, int64_t H) const { return at::layer_norm(x, {H}, w, b, 1e-5); }
};

class OptBlock : public Block {
 public:
  OptBlock(const io::ModelConfig& c, const WeightReader& w, const std::string& p) : cfg_(c) {
    const int64_t H = c.hidden_size, F = c.intermediate_size;
    auto lin = [&](Linear& l, const std::string& n, int64_t out, int64_t in) { l = w.linear(p + n, out, in, c.enable_bias); };
    lin(q_, "self_attn.q_proj", H, H);
    lin(k_, "self_attn.k_proj", H, H);
    lin(v_, "self_attn.v_proj", H, H);
    lin(o_, "self_attn.out_proj", H, H);
    lin(fc1_, "fc1", F, H);
    lin(fc2_, "fc2", H, F);
    auto norm = [&](Norm& n, const std::string& name) {
      if (!c.layer_norm_elementwise_affine) return;
      n.w = w.get(p + name + ".weight", {H}, true);
      n.b = w.get(p + name + ".bias", {H}, true);
    };
    norm(ln_attn_, "self_attn_layer_norm");
    norm(ln_ffn_, "final_layer_norm");
  }

  at::Tensor forward(const at::Tensor& h, const LinearObserver* observe) const override {
    auto run = [&](const char* name, const Linear& l, const at::Tensor& x) {
      if (observe) (*observe)(name, x);
      return l(x);
    };
    const int64_t B = h.size(0), T = h.size(1), H = cfg_.hidden_size, D = cfg_.head_dim, nh = cfg_.num_heads;
    const bool pre = cfg_.do_layer_norm_before;
    at::Tensor x = pre ? ln_attn_(h, H) : h;
    at::Tensor q = run("self_attn.q_proj", q_, x).view({B, T, nh, D}).transpose(1, 2);
    at::Tensor k = run("self_attn.k_proj", k_, x).view({B, T, nh, D}).transpose(1, 2);
    at::Tensor v = run("self_attn.v_proj", v_, x).view({B, T, nh, D}).transpose(1, 2);
    at::Tensor a = causal_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(D)));
    a = a.transpose(1, 2).reshape({B, T, H});
    at::Tensor r = h + run("self_attn.out_proj", o_, a);
    if (!pre) r = ln_attn_(r, H);
    x = pre ? ln_ffn_(r, H) : r;
    at::Tensor f = run("fc1", fc1_, x);
    f = cfg_.activation == "relu" ? at::relu(f) : at::gelu(f);
    at::Tensor out = r + run("fc2", fc2_, f);
    return pre ? out : ln_ffn_(out, H);
  }

  at::Tensor forward_cached(const at::Tensor& h, at::Tensor& k_cache, at::Tensor& v_cache, const Step& step) const override {
    const int64_t B = h.size(0), T = h.size(1), H = cfg_.hidden_size, D = cfg_.head_dim, nh = cfg_.num_heads;
    const bool pre = cfg_.do_layer_norm_before;
    at::Tensor x = pre ? ln_attn_(h, H) : h;
    at::Tensor q = q_(x).view({B, T, nh, D}).transpose(1, 2);
    at::Tensor k = k_(x).view({B, T, nh, D}).transpose(1, 2);
    at::Tensor v = v_(x).view({B, T, nh, D}).transpose(1, 2);
    const CachedKV kv = append_kv(k_cache, v_cache, k, v, step);
    at::Tensor a = masked_attention(q, kv.k, kv.v, 1.0 / std::sqrt(static_cast<double>(D)), kv.visible);
    a = a.transpose(1, 2).reshape({B, T, H});
    at::Tensor r = h + o_(a);
    if (!pre) r = ln_attn_(r, H);
    x = pre ? ln_ffn_(r, H) : r;
    at::Tensor f = fc1_(x);
    f = cfg_.activation == "relu" ? at::relu(f) : at::gelu(f);
    at::Tensor out = r + fc2_(f);
    return pre ? out : ln_ffn_(out, H);
  }

  std::vector<std::pair<std::string, Linear*>> linears() override {
    return {{"self_attn.q_proj", &q_}, {"self_attn.k_proj", &k_}, {"self_attn.v_proj", &v_},
            {"self_attn.out_proj", &o_}, {"fc1", &fc1_},           {"fc2", &fc2_}};
  }

  std::vector<at::Tensor*> tensors() override {
    std::vector<at::Tensor*> t{&ln_attn_.w, &ln_attn_.b, &ln_ffn_.w, &ln_ffn_.b};
    for (auto& [n, l] : linears()) t.insert(t.end(), {&l->weight, &l->bias});
    return t;
  }

 private:
  const io::ModelConfig& cfg_;
  Linear q_, k_, v_, o_, fc1_, fc2_;
  Norm ln_attn_, ln_ffn_;
};

class Opt : public DecoderModel {
 public:
  Opt(const io::ModelConfig& c, const WeightReader& w, const LoadOptions& opts) {
    config_ = c;
    options_ = opts;
    const int64_t V = c.vocab_size, H = c.hidden_size, E = c.word_embed_proj_dim;
    // Some OPT checkpoints omit the "model." prefix.
    prefix_ = w.has("model.decoder.embed_tokens.weight") ? "model.decoder." : "decoder.";
    embed_ = w.get(prefix_ + "embed_tokens.weight", {V, E});
    positions_ = w.get(prefix_ + "embed_positions.weight", {c.max_position_embeddings + c.position_offset, H});
    if (E != H) {
      project_in_ = w.get(prefix_ + "project_in.weight", {H, E});
      project_out_ = w.get(prefix_ + "project_out.weight", {E, H});
    }
    if (c.final_layer_norm && c.layer_norm_elementwise_affine) {
      final_norm_.w = w.get(prefix_ + "final_layer_norm.weight", {H});
      final_norm_.b = w.get(prefix_ + "final_layer_norm.bias", {H});
    }
    lm_head_ = c.tie_word_embeddings ? w.get_optional("lm_head.weight", {V, E}) : w.get("lm_head.weight", {V, E});
    if (!lm_head_.defined()) lm_head_ = embed_;
    for (int64_t i = 0; i < c.num_layers; ++i)
      blocks_.push_back(std::make_unique<OptBlock>(config_, w, block_prefix(i)));
  }

  std::string block_prefix(int64_t i) const override { return prefix_ + "layers." + std::to_string(i) + "."; }

  at::Tensor embed(const at::Tensor& ids) const override {
    const int64_t T = ids.size(1);
    if (T > config_.max_position_embeddings)
      fail(config_.source, "sequence of " + std::to_string(T) + " tokens exceeds max_position_embeddings " +
                               std::to_string(config_.max_position_embeddings));
    at::Tensor h = at::embedding(embed_, ids);
    if (project_in_.defined()) h = at::linear(h, project_in_);
    return h + positions_.narrow(0, config_.position_offset, T).unsqueeze(0);
  }

  at::Tensor embed_at(const at::Tensor& ids, const Step& step) const override {
    if (!step.whole_cache() && step.start + ids.size(1) > config_.max_position_embeddings)
      fail(config_.source, "position " + std::to_string(step.start + ids.size(1)) + " exceeds max_position_embeddings " +
                               std::to_string(config_.max_position_embeddings));
    at::Tensor h = at::embedding(embed_, ids);
    if (project_in_.defined()) h = at::linear(h, project_in_);
    return h + positions_.index_select(0, step.pos + config_.position_offset).unsqueeze(0);
  }

  std::vector<const at::Tensor*> outer_tensors() const override {
    return {&embed_, &positions_, &project_in_, &project_out_, &lm_head_, &final_norm_.w, &final_norm_.b};
  }

  at::Tensor head(const at::Tensor& h) const override {
    at::Tensor x = config_.final_layer_norm ? final_norm_(h, config_.hidden_size) : h;
    if (project_out_.defined()) x = at::linear(x, project_out_);
    return at::linear(x, lm_head_);
  }

 private:
  std::string prefix_;
  at::Tensor embed_, positions_, project_in_, project_out_, lm_head_;
  Norm final_norm_;
};

}  // namespace

std::unique_ptr<DecoderModel> make_opt(const io::ModelConfig& cfg, const WeightReader& w, const LoadOptions& opts) {
  return std::make_unique<Opt>(cfg, w, opts);
}

}  // namespace ob1q::model
