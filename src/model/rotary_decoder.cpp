// The families derived from LLaMA, each as transformers 5 implements it (Qwen2ForCausalLM,
// Qwen3ForCausalLM, MistralForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM): one block whose
// differences from LLaMA's come from the family's RotaryTraits (model/family.hpp) and config.json:
// - Qwen2: q/k/v biases; sliding window only with use_sliding_window, on layers >= max_window_layers.
// - Qwen3: per-head RMSNorm of q and k (over head_dim) before the rotary embedding.
// - Mistral: sliding window on every layer.
// - Phi-3: fused qkv_proj (q, k, v rows) and gate_up_proj (gate rows, then up rows), partial rotary
//   embedding (the first int(head_dim * partial_rotary_factor) channels), sliding window.
// - Gemma-2: RMSNorm as x * (1 + w) in fp32, norms after attention and MLP too, embeddings times
//   sqrt(hidden) (rounded to the model dtype), GeGLU, scale query_pre_attn_scalar^-0.5, tanh softcaps
//   of attention scores and final logits, sliding window on the layers layer_types names.
// A window keeps the last `window` keys, the query's own included (transformers' masking_utils).
#include <ATen/ATen.h>

#include <cmath>

#include "ob1q/common/error.hpp"
#include "ob1q/model/attention.hpp"
#include "ob1q/model/decoder.hpp"

namespace ob1q::model {
namespace {

// LLaMA's RMSNorm normalises in fp32, casts back, then scales in the input dtype; Gemma's scales by
// (1 + w) in fp32 and casts the product.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, bool gemma) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (gemma) return (y * (1.0 + w.to(at::kFloat))).to(x.scalar_type());
  return w * y.to(x.scalar_type());
}

at::Tensor activate(const at::Tensor& x, const std::string& act) {
  if (act == "silu") return at::silu(x);
  return at::gelu(x, act == "gelu" ? "none" : "tanh");  // gelu_pytorch_tanh
}

// The rotary embedding at positions `pos` on the first `dims` channels of each head.
at::Tensor rotate(const at::Tensor& x, const Rope& r, const at::Tensor& pos, int64_t dims) {
  const int64_t D = x.size(3);
  if (dims == D) return apply_rope_at(x, r, pos);
  return at::cat({apply_rope_at(x.narrow(3, 0, dims), r, pos), x.narrow(3, dims, D - dims)}, 3);
}

class RotaryBlock : public Block {
 public:
  RotaryBlock(const io::ModelConfig& c, const FamilyTable& f, const WeightReader& w, const std::string& p, int64_t layer,
              std::shared_ptr<const RopeCache> rope)
      : cfg_(c), family_(f), t_(f.rotary), window_(c.window_of(layer)), rope_(std::move(rope)) {
    const int64_t H = c.hidden_size, D = c.head_dim, F = c.intermediate_size;
    const int64_t q_out = c.num_heads * D, kv_out = c.num_kv_heads * D;
    const bool qkv_bias = t_.qkv_bias || c.attention_bias;
    auto lin = [&](Linear& l, const char* n, int64_t out, int64_t in, bool bias) { l = w.linear(p + n, out, in, bias); };
    if (t_.fused) {
      lin(qkv_, "self_attn.qkv_proj", q_out + 2 * kv_out, H, false);
      lin(gate_up_, "mlp.gate_up_proj", 2 * F, H, false);
    } else {
      lin(q_, "self_attn.q_proj", q_out, H, qkv_bias);
      lin(k_, "self_attn.k_proj", kv_out, H, qkv_bias);
      lin(v_, "self_attn.v_proj", kv_out, H, qkv_bias);
      lin(gate_, "mlp.gate_proj", F, H, c.mlp_bias);
      lin(up_, "mlp.up_proj", F, H, c.mlp_bias);
    }
    lin(o_, "self_attn.o_proj", H, q_out, c.attention_bias);
    lin(down_, "mlp.down_proj", H, F, c.mlp_bias);
    ln_in_ = w.get(p + "input_layernorm.weight", {H}, true);
    ln_post_attn_ = w.get(p + "post_attention_layernorm.weight", {H}, true);
    if (t_.sandwich_norms) {
      ln_pre_ffn_ = w.get(p + "pre_feedforward_layernorm.weight", {H}, true);
      ln_post_ffn_ = w.get(p + "post_feedforward_layernorm.weight", {H}, true);
    }
    if (t_.qk_norm) {
      q_norm_ = w.get(p + "self_attn.q_norm.weight", {D}, true);
      k_norm_ = w.get(p + "self_attn.k_norm.weight", {D}, true);
    }
    scale_ = c.query_pre_attn_scalar > 0 ? std::pow(c.query_pre_attn_scalar, -0.5) : 1.0 / std::sqrt(double(D));
  }

  at::Tensor forward(const at::Tensor& h, const LinearObserver* observe) const override {
    const int64_t T = h.size(1);
    const at::Tensor pos = at::arange(T, h.options().dtype(at::kLong));
    return body(h, observe, pos, T, [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      const bool windowed = window_ > 0 && window_ < T;
      if (!windowed && cfg_.attn_logit_softcapping <= 0) return causal_attention(q, k, v, scale_);
      const at::Tensor visible = window_visible(T, windowed ? window_ : T, h.device());
      return softcapped_attention(q, k, v, scale_, visible, cfg_.attn_logit_softcapping);
    });
  }

  at::Tensor forward_cached(const at::Tensor& h, at::Tensor& k_cache, at::Tensor& v_cache, const Step& step) const override {
    return body(h, nullptr, step.pos, k_cache.size(2), [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
      const CachedKV kv = append_kv(k_cache, v_cache, k, v, step);
      const at::Tensor visible = window_ > 0 ? restrict_to_window(kv.visible, step.pos, kv.k.size(2), window_) : kv.visible;
      return softcapped_attention(q, kv.k, kv.v, scale_, visible, cfg_.attn_logit_softcapping);
    });
  }

  std::vector<std::pair<std::string, Linear*>> linears() override {
    std::vector<std::pair<std::string, Linear*>> out;
    for (const FamilyLinear& l : family_.linears) out.emplace_back(l.name, member(l.name));
    return out;
  }

  std::vector<at::Tensor*> tensors() override {
    std::vector<at::Tensor*> t{&ln_in_, &ln_post_attn_, &ln_pre_ffn_, &ln_post_ffn_, &q_norm_, &k_norm_};
    for (auto& [n, l] : linears()) t.insert(t.end(), {&l->weight, &l->bias});
    return t;
  }

 private:
  at::Tensor norm(const at::Tensor& x, const at::Tensor& w) const { return rms_norm(x, w, cfg_.norm_eps, t_.gemma_norms); }

  Linear* member(const std::string& name) {
    const std::pair<const char*, Linear*> members[] = {
        {"self_attn.q_proj", &q_},   {"self_attn.k_proj", &k_},         {"self_attn.v_proj", &v_},
        {"self_attn.qkv_proj", &qkv_}, {"self_attn.o_proj", &o_},       {"mlp.gate_proj", &gate_},
        {"mlp.up_proj", &up_},       {"mlp.gate_up_proj", &gate_up_}, {"mlp.down_proj", &down_}};
    for (const auto& [n, l] : members)
      if (name == n) return l;
    fail(family_.model_type, "the block has no linear \"" + name + "\" (internal error)");
  }

  // The block at positions `pos` (rotary tables of at least `rope_len` rows); attend(q, k, v) is
  // the attention over q [B, Hq, T, D] and this step's k, v [B, Hkv, T, D].
  template <class Attend>
  at::Tensor body(const at::Tensor& h, const LinearObserver* observe, const at::Tensor& pos, int64_t rope_len,
                  const Attend& attend) const {
    auto run = [&](const char* name, const Linear& l, const at::Tensor& x) {
      if (observe) (*observe)(name, x);
      return l(x);
    };
    const int64_t B = h.size(0), T = h.size(1), D = cfg_.head_dim, Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads;
    const int64_t F = cfg_.intermediate_size;
    at::Tensor x = norm(h, ln_in_);
    at::Tensor q, k, v;
    if (t_.fused) {
      const at::Tensor qkv = run("self_attn.qkv_proj", qkv_, x);
      q = qkv.narrow(-1, 0, Hq * D), k = qkv.narrow(-1, Hq * D, Hkv * D), v = qkv.narrow(-1, (Hq + Hkv) * D, Hkv * D);
    } else {
      q = run("self_attn.q_proj", q_, x), k = run("self_attn.k_proj", k_, x), v = run("self_attn.v_proj", v_, x);
    }
    q = q.reshape({B, T, Hq, D}), k = k.reshape({B, T, Hkv, D}), v = v.reshape({B, T, Hkv, D});
    if (t_.qk_norm) q = rms_norm(q, q_norm_, cfg_.norm_eps, false), k = rms_norm(k, k_norm_, cfg_.norm_eps, false);
    const Rope rope = rope_->get(rope_len);
    const int64_t dims = cfg_.rotary_dim();
    q = rotate(q.transpose(1, 2), rope, pos, dims);
    k = rotate(k.transpose(1, 2), rope, pos, dims);
    at::Tensor a = attend(q, k, v.transpose(1, 2)).transpose(1, 2).reshape({B, T, Hq * D});
    a = run("self_attn.o_proj", o_, a);
    if (t_.sandwich_norms) a = norm(a, ln_post_attn_);
    const at::Tensor r = h + a;
    x = norm(r, t_.sandwich_norms ? ln_pre_ffn_ : ln_post_attn_);
    at::Tensor m;
    if (t_.fused) {
      const at::Tensor gu = run("mlp.gate_up_proj", gate_up_, x);
      m = gu.narrow(-1, F, F) * activate(gu.narrow(-1, 0, F), cfg_.activation);
    } else {
      const at::Tensor gate = activate(run("mlp.gate_proj", gate_, x), cfg_.activation);  // observed in table order
      m = gate * run("mlp.up_proj", up_, x);
    }
    m = run("mlp.down_proj", down_, m);
    if (t_.sandwich_norms) m = norm(m, ln_post_ffn_);
    return r + m;
  }

  const io::ModelConfig& cfg_;
  const FamilyTable& family_;
  RotaryTraits t_;
  int64_t window_;
  double scale_ = 1;
  std::shared_ptr<const RopeCache> rope_;
  Linear q_, k_, v_, qkv_, o_, gate_, up_, gate_up_, down_;
  at::Tensor ln_in_, ln_post_attn_, ln_pre_ffn_, ln_post_ffn_, q_norm_, k_norm_;
};

class RotaryDecoder : public DecoderModel {
 public:
  RotaryDecoder(const io::ModelConfig& c, const WeightReader& w, const LoadOptions& opts) {
    config_ = c;
    options_ = opts;
    const FamilyTable& f = family_table(c.model_type);
    gemma_ = f.rotary.gemma_norms;
    const int64_t V = c.vocab_size, H = c.hidden_size;
    embed_ = w.get("model.embed_tokens.weight", {V, H});
    norm_ = w.get("model.norm.weight", {H});
    lm_head_ = c.tie_word_embeddings ? w.get_optional("lm_head.weight", {V, H}) : w.get("lm_head.weight", {V, H});
    if (!lm_head_.defined()) lm_head_ = embed_;
    auto rope = std::make_shared<const RopeCache>(c.rope, c.rotary_dim(), opts.device);
    for (int64_t i = 0; i < c.num_layers; ++i)
      blocks_.push_back(std::make_unique<RotaryBlock>(config_, f, w, block_prefix(i), i, rope));
  }

  at::Tensor embed(const at::Tensor& ids) const override {
    at::Tensor h = at::embedding(embed_, ids);
    // transformers rounds the normalizer to the model dtype first (sqrt(3072) = 55.4256 -> 55.5 in fp16).
    if (gemma_) h = h * at::scalar_tensor(std::sqrt(double(config_.hidden_size)), h.options());
    return h;
  }

  std::string block_prefix(int64_t i) const override { return "model.layers." + std::to_string(i) + "."; }

  at::Tensor head(const at::Tensor& h) const override {
    at::Tensor logits = at::linear(rms_norm(h, norm_, config_.norm_eps, gemma_), lm_head_);
    const double cap = config_.final_logit_softcapping;
    return cap > 0 ? at::tanh(logits / cap) * cap : logits;
  }

  std::vector<const at::Tensor*> outer_tensors() const override { return {&embed_, &norm_, &lm_head_}; }

 private:
  bool gemma_ = false;
  at::Tensor embed_, norm_, lm_head_;
};

}  // namespace

std::unique_ptr<DecoderModel> make_rotary(const io::ModelConfig& cfg, const WeightReader& w, const LoadOptions& opts) {
  return std::make_unique<RotaryDecoder>(cfg, w, opts);
}

}  // namespace ob1q::model
