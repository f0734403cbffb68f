// LLaMA-1/2/3 decoder (HF LlamaForCausalLM): RMSNorm, RoPE (default / linear / llama3 scaling),
// grouped-query attention, SwiGLU MLP, optional tied head.
#include <ATen/ATen.h>

#include "ob1q/kernels/fused.hpp"
#include "ob1q/model/attention.hpp"
#include "ob1q/model/decoder.hpp"

namespace ob1q::model {
namespace {

// HF LlamaRMSNorm: normalise in fp32, cast back, then scale in the input dtype (one fused op).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) { return kernels::rms_norm(x, w, eps); }

class LlamaBlock : public Block {
 public:
  LlamaBlock(const io::ModelConfig& c, const WeightReader& w, const std::string& p, std::shared_ptr<const Rope> rope)
      : cfg_(c), rope_(std::move(rope)) {
    const int64_t H = c.hidden_size, D = c.head_dim, F = c.intermediate_size;
    const int64_t q_out = c.num_heads * D, kv_out = c.num_kv_heads * D;
    auto lin = [&](Linear& l, const std::string& n, int64_t out, int64_t in, bool bias) { l = w.linear(p + n, out, in, bias); };
    lin(q_, "self_attn.q_proj", q_out, H, c.attention_bias);
    lin(k_, "self_attn.k_proj", kv_out, H, c.attention_bias);
    lin(v_, "self_attn.v_proj", kv_out, H, c.attention_bias);
    lin(o_, "self_attn.o_proj", H, q_out, c.attention_bias);
    lin(gate_, "mlp.gate_proj", F, H, c.mlp_bias);
    lin(up_, "mlp.up_proj", F, H, c.mlp_bias);
    lin(down_, "mlp.down_proj", H, F, c.mlp_bias);
    ln1_ = w.get(p + "input_layernorm.weight", {H}, true);
    ln2_ = w.get(p + "post_attention_layernorm.weight", {H}, true);
  }

  at::Tensor forward(const at::Tensor& h, const LinearObserver* observe) const override {
    auto run = [&](const char* name, const Linear& l, const at::Tensor& x) {
      if (observe) (*observe)(name, x);
      return l(x);
    };
    const int64_t B = h.size(0), T = h.size(1), D = cfg_.head_dim;
    at::Tensor x = rms_norm(h, ln1_, cfg_.norm_eps);
    const at::Tensor pos = at::arange(T, at::TensorOptions().dtype(at::kLong).device(h.device()));
    at::Tensor q = rope(run("self_attn.q_proj", q_, x).view({B, T, cfg_.num_heads, D}), pos).transpose(1, 2);
    at::Tensor k = rope(run("self_attn.k_proj", k_, x).view({B, T, cfg_.num_kv_heads, D}), pos).transpose(1, 2);
    at::Tensor v = run("self_attn.v_proj", v_, x).view({B, T, cfg_.num_kv_heads, D}).transpose(1, 2);
    at::Tensor a = causal_attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(D)));
    a = a.transpose(1, 2).reshape({B, T, cfg_.num_heads * D});
    at::Tensor r = h + run("self_attn.o_proj", o_, a);
    x = rms_norm(r, ln2_, cfg_.norm_eps);
    at::Tensor m = kernels::silu_mul(run("mlp.gate_proj", gate_, x), run("mlp.up_proj", up_, x));
    return r + run("mlp.down_proj", down_, m);
  }

  at::Tensor forward_cached(const at::Tensor& h, at::Tensor& k_cache, at::Tensor& v_cache, const Step& step) const override {
    const int64_t B = h.size(0), T = h.size(1), D = cfg_.head_dim;
    at::Tensor x = rms_norm(h, ln1_, cfg_.norm_eps);
    at::Tensor q = rope(q_(x).view({B, T, cfg_.num_heads, D}), step.pos).transpose(1, 2);
    at::Tensor k = rope(k_(x).view({B, T, cfg_.num_kv_heads, D}), step.pos).transpose(1, 2);
    at::Tensor v = v_(x).view({B, T, cfg_.num_kv_heads, D}).transpose(1, 2);
    const CachedKV kv = append_kv(k_cache, v_cache, k, v, step);
    at::Tensor a = masked_attention(q, kv.k, kv.v, 1.0 / std::sqrt(static_cast<double>(D)), kv.visible);
    a = a.transpose(1, 2).reshape({B, T, cfg_.num_heads * D});
    at::Tensor r = h + o_(a);
    x = rms_norm(r, ln2_, cfg_.norm_eps);
    return r + down_(kernels::silu_mul(gate_(x), up_(x)));
  }

  // x [B, T, H, D] rotated at positions pos.
  at::Tensor rope(const at::Tensor& x, const at::Tensor& pos) const { return kernels::rope(x, rope_->cos, rope_->sin, pos); }

  std::vector<std::pair<std::string, Linear*>> linears() override {
    return {{"self_attn.q_proj", &q_}, {"self_attn.k_proj", &k_}, {"self_attn.v_proj", &v_},
            {"self_attn.o_proj", &o_}, {"mlp.gate_proj", &gate_},  {"mlp.up_proj", &up_},
            {"mlp.down_proj", &down_}};
  }

  std::vector<at::Tensor*> tensors() override {
    std::vector<at::Tensor*> t{&ln1_, &ln2_};
    for (auto& [n, l] : linears()) t.insert(t.end(), {&l->weight, &l->bias});
    return t;
  }

 private:
  const io::ModelConfig& cfg_;
  std::shared_ptr<const Rope> rope_;
  Linear q_, k_, v_, o_, gate_, up_, down_;
  at::Tensor ln1_, ln2_;
};

class Llama : public DecoderModel {
 public:
  Llama(const io::ModelConfig& c, const WeightReader& w, const LoadOptions& opts) {
    config_ = c;
    options_ = opts;
    const int64_t V = c.vocab_size, H = c.hidden_size;
    embed_ = w.get("model.embed_tokens.weight", {V, H});
    norm_ = w.get("model.norm.weight", {H});
    lm_head_ = c.tie_word_embeddings ? w.get_optional("lm_head.weight", {V, H}) : w.get("lm_head.weight", {V, H});
    if (!lm_head_.defined()) lm_head_ = embed_;
    // Tables for the longest window we expect; extended on demand in rope_for().
    auto rope = std::make_shared<const Rope>(rope_tables(c.rope, c.head_dim, std::max<int64_t>(c.max_position_embeddings, 2048), opts.device));
    for (int64_t i = 0; i < c.num_layers; ++i)
      blocks_.push_back(std::make_unique<LlamaBlock>(config_, w, block_prefix(i), rope));
  }

  at::Tensor embed(const at::Tensor& ids) const override { return at::embedding(embed_, ids); }
  std::string block_prefix(int64_t i) const override { return "model.layers." + std::to_string(i) + "."; }

  at::Tensor head(const at::Tensor& h) const override {
    return at::linear(rms_norm(h, norm_, config_.norm_eps), lm_head_);
  }

  std::vector<const at::Tensor*> outer_tensors() const override { return {&embed_, &norm_, &lm_head_}; }

 private:
  at::Tensor embed_, norm_, lm_head_;
};

}  // namespace

std::unique_ptr<DecoderModel> make_llama(const io::ModelConfig& cfg, const WeightReader& w, const LoadOptions& opts) {
  return std::make_unique<Llama>(cfg, w, opts);
}

}  // namespace ob1q::model
