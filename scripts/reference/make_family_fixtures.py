#!/usr/bin/env python3
"""Reference fixtures for the model families of issue 13 (run on the GPU machine; CPU is enough).

Writes, under --out (tests/fixtures/families):
  <name>/config.json, model.safetensors   a tiny random checkpoint written by transformers (fp32),
                                          every weight perturbed (norms and biases random too)
  <name>/expected.safetensors             {input_ids [T] int64, logits [T, vocab] fp32}: transformers'
                                          eager fp32 forward of a fixed prompt longer than any
                                          sliding window of the fixtures
  tokenizers/<name>/tokenizer.json, tokenizer_config.json
                                          small tokenizers trained here with the pre-tokenizer and
                                          normalizer configuration of each family's tokenizer class
  tokenizers.json                         per tokenizer: the ids transformers' AutoTokenizer gives for
                                          the hard strings (scripts/reference/hard_strings.json plus a
                                          few family-specific ones), with and without special tokens,
                                          and those of the plain `tokenizers` pipeline for comparison
  report.json                             versions, per fixture the structure it exercises, sizes
Everything is seeded: a second run writes the same files (BPE training is deterministic for a
given corpus; the corpus is the hard strings plus README.md and docs/methods.md of this checkout).

Fixtures: qwen2 (q/k/v biases, tied head, rope theta 1e6, config.json rewritten with the
transformers-4 keys of the Qwen2.5 releases: use_sliding_window false with a window that would
matter), qwen2-swa (use_sliding_window true, max_window_layers 1: layer 0 full, layer 1 sliding),
qwen3 (per-head q/k RMSNorm, head_dim 8 != 64/4, tied), mistral (sliding window 8, head_dim 8,
untied), phi3 (fused qkv_proj / gate_up_proj, partial_rotary_factor 0.5, sliding window 12, GQA),
gemma2 ((1 + w) norms, sandwich norms, sqrt(hidden) embedding scale, gelu_pytorch_tanh, query_pre_attn_scalar 20,
attention softcap 3 and final softcap 4, layer 0 sliding (window 8) and layer 1 full, tied).

Requirements: Python >= 3.8, torch, transformers (with tokenizers), safetensors; known to work:
transformers 5.17 and tokenizers 0.23. A missing package ends the script with one line naming it
and exit status 2.

Usage: scripts/reference/make_family_fixtures.py --out tests/fixtures/families
"""
import argparse, json, math, os, shutil, sys

try:
    import torch
    import transformers
    from safetensors.torch import save_file
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)

p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
p.add_argument("--out", required=True, help="output folder (tests/fixtures/families)")
args = p.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.normpath(os.path.join(here, "..", ".."))
out = args.out
if os.path.isdir(out):
    shutil.rmtree(out)  # regenerate everything: no stale file survives
os.makedirs(out)
report = {"transformers": transformers.__version__, "torch": torch.__version__, "models": {}, "tokenizers": {}}

VOCAB = 128
PROMPT_LEN = 40  # longer than every sliding window below (8, 12)
g = torch.Generator().manual_seed(20240613)
PROMPT = torch.randint(0, VOCAB, (1, PROMPT_LEN), generator=g)


# ---------------------------------------------------------------- tiny checkpoints
def perturb(model, seed, gemma_norms=False):
    """Every parameter random (not its init value), so that each family detail shows in the logits:
    RMSNorm weights around 1 ((1 + w) norms of Gemma around 0), biases ~ 0.3, linears ~ 1/sqrt(fan_in)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            r = torch.randn(t.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):  # input_layernorm, q_norm, pre_feedforward_layernorm, model.norm, ...
                t.copy_((0.0 if gemma_norms else 1.0) + 0.3 * r)
            elif name.endswith(".bias"):
                t.copy_(0.3 * r)
            elif "embed_tokens" in name:
                t.copy_(0.5 * r)
            else:
                t.copy_(r / math.sqrt(t.shape[-1]))


def rewrite_config(d, edit):
    path = os.path.join(d, "config.json")
    cfg = json.load(open(path))
    edit(cfg)
    json.dump(cfg, open(path, "w"), indent=2, sort_keys=True)


def save_family(name, model, notes, check=None, config_edit=None, gemma_norms=False):
    d = os.path.join(out, name)
    os.makedirs(d)
    perturb(model, seed=sum(map(ord, name)), gemma_norms=gemma_norms)
    model.eval()
    model.save_pretrained(d, safe_serialization=True)
    # Reload the saved files exactly as a user would and compute the reference in fp32, eager.
    m = type(model).from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    if check:
        check(m)
    with torch.no_grad():
        logits = m(PROMPT).logits[0].float().contiguous()
    save_file({"input_ids": PROMPT[0].to(torch.int64).contiguous(), "logits": logits},
              os.path.join(d, "expected.safetensors"))
    if config_edit:  # after the reference: the edit must not change what transformers computes
        rewrite_config(d, config_edit)
    for f in os.listdir(d):
        if f.endswith(".bin") or f == "generation_config.json":
            os.remove(os.path.join(d, f))
    cfg = json.load(open(os.path.join(d, "config.json")))
    report["models"][name] = {"class": type(model).__name__, "notes": notes, "logit_std": float(logits.std()),
                              "logit_absmax": float(logits.abs().max()),
                              "layer_types": cfg.get("layer_types"),
                              "files": {f: os.path.getsize(os.path.join(d, f)) for f in sorted(os.listdir(d))}}
    print(f"model {name:10s} {type(model).__name__:20s} logits {tuple(logits.shape)} std {float(logits.std()):.3f} "
          f"layer_types {cfg.get('layer_types')}")


def expect(cond, what):
    if not cond:
        print(f"{os.path.basename(sys.argv[0])}: fixture check failed: {what}", file=sys.stderr)
        sys.exit(1)


common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)
T = transformers

# Qwen2 / Qwen2.5 as released: biases on q/k/v (none on o), tied head in the small sizes, rope theta 1e6,
# use_sliding_window false. Its config.json is rewritten with the transformers-4 keys the releases carry
# (rope_theta at the top, no layer_types) and a window of 4 that would change the logits if honoured.
def qwen2_v4_keys(cfg):
    rp = cfg.pop("rope_parameters", None) or {}
    cfg["rope_theta"] = rp.get("rope_theta", 1e6)
    cfg.pop("layer_types", None)
    cfg["use_sliding_window"] = False
    cfg["sliding_window"] = 4
    cfg["max_window_layers"] = 1
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")

torch.manual_seed(11)
save_family("qwen2", T.Qwen2ForCausalLM(T.Qwen2Config(**common, tie_word_embeddings=True,
                                                      rope_parameters={"rope_type": "default", "rope_theta": 1e6})),
            "q/k/v bias, tied, theta 1e6, transformers-4 config keys, use_sliding_window false (window 4 in config)",
            check=lambda m: expect(m.model.layers[0].self_attn.q_proj.bias is not None, "qwen2 q_proj has a bias"),
            config_edit=qwen2_v4_keys)

torch.manual_seed(12)
save_family("qwen2-swa", T.Qwen2ForCausalLM(T.Qwen2Config(**common, tie_word_embeddings=True, use_sliding_window=True,
                                                          sliding_window=8, max_window_layers=1,
                                                          rope_parameters={"rope_type": "default", "rope_theta": 1e6})),
            "use_sliding_window true, window 8, max_window_layers 1: layer 0 full, layer 1 sliding",
            check=lambda m: expect(list(m.config.layer_types) == ["full_attention", "sliding_attention"],
                                   "qwen2-swa layer types"))

torch.manual_seed(13)
save_family("qwen3", T.Qwen3ForCausalLM(T.Qwen3Config(**common, head_dim=8, tie_word_embeddings=True, attention_bias=False,
                                                      rope_parameters={"rope_type": "default", "rope_theta": 1e6})),
            "per-head q/k RMSNorm before rope, head_dim 8 != 64/4, no bias, tied",
            check=lambda m: expect(m.model.layers[0].self_attn.q_norm.weight.shape == (8,), "qwen3 q_norm over head_dim"))

torch.manual_seed(14)
save_family("mistral", T.MistralForCausalLM(T.MistralConfig(**common, head_dim=8, sliding_window=8, tie_word_embeddings=False,
                                                            rope_parameters={"rope_type": "default", "rope_theta": 1e4})),
            "sliding window 8 on every layer (prompt of 40), head_dim 8, untied")

def phi3_check(m):
    # partial rotary: the rotary tables must cover only half of head_dim 16
    expect(m.model.rotary_emb.inv_freq.numel() == 4, "phi3 partial_rotary_factor 0.5 -> 4 inverse frequencies, got "
           + str(m.model.rotary_emb.inv_freq.numel()))
    expect(m.model.layers[0].self_attn.qkv_proj.weight.shape == (64 + 2 * 32, 64), "phi3 fused qkv_proj shape")
    expect(m.model.layers[0].mlp.gate_up_proj.weight.shape == (2 * 48, 64), "phi3 fused gate_up_proj shape")

torch.manual_seed(15)
save_family("phi3", T.Phi3ForCausalLM(T.Phi3Config(**{k: v for k, v in common.items()}, sliding_window=12,
                                                   tie_word_embeddings=False, pad_token_id=0,
                                                   rope_parameters={"rope_type": "default", "rope_theta": 1e4,
                                                                    "partial_rotary_factor": 0.5})),
            "fused qkv_proj and gate_up_proj, partial_rotary_factor 0.5, sliding window 12, GQA, untied",
            check=phi3_check)

torch.manual_seed(16)
save_family("gemma2", T.Gemma2ForCausalLM(T.Gemma2Config(**common, head_dim=8, query_pre_attn_scalar=20, sliding_window=8,
                                                         attn_logit_softcapping=3.0, final_logit_softcapping=4.0,
                                                         hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True,
                                                         pad_token_id=0,
                                                         rope_parameters={"rope_type": "default", "rope_theta": 1e4})),
            "(1+w) norms, pre/post norms, sqrt(hidden) embedding scale, gelu tanh, query_pre_attn_scalar 20, "
            "softcaps 3 (attention) and 4 (final), layer 0 sliding (8), layer 1 full, tied",
            check=lambda m: expect(list(m.config.layer_types) == ["sliding_attention", "full_attention"], "gemma2 layer types"),
            gemma_norms=True)


# ---------------------------------------------------------------- tokenizers
strings = json.load(open(os.path.join(here, "hard_strings.json")))
extra = {
    # NFC: decomposed letters, canonical reordering (dot below before dot above), singletons (Angstrom, Ohm), Hangul jamo
    "qwen": ["e\u0301t\u00e9 and a\u0307\u0323 and \u212b \u2126 and \u1100\u1161\u11a8",
             "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
             "<tool_call>{\"a\": 1}</tool_call> and <|endoftext|>",
             "1234567 digits one by one, 3.14"],
    "sp": ["<bos>in text<eos> and <start_of_turn>user\nhi<end_of_turn>",
           "\u00e9t\u00e9 \u212b byte fallback: \U0001f600 \u4e2d",
           "   three leading spaces", "tab\there"],
}
corpus = list(strings) + [s for v in extra.values() for s in v]
for f in ("README.md", "docs/methods.md"):
    path = os.path.join(repo, f)
    if os.path.exists(path):
        corpus += open(path, encoding="utf-8").read().split("\n")
report["tokenizer_corpus_lines"] = len(corpus)


def write_tokenizer(name, tk, config, cases):
    d = os.path.join(out, "tokenizers", name)
    os.makedirs(d)
    tk.save(os.path.join(d, "tokenizer.json"))
    json.dump(config, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2, ensure_ascii=False)
    t = transformers.AutoTokenizer.from_pretrained(d)
    raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    entry = {"class": type(t).__name__, "cases": []}
    agree = 0
    for s in cases:
        ids, plain = t(s)["input_ids"], t(s, add_special_tokens=False)["input_ids"]
        raw_ids = raw.encode(s, add_special_tokens=False).ids
        agree += raw_ids == plain
        entry["cases"].append({"text": s, "ids": ids, "ids_no_special": plain, "tokenizers_ids_no_special": raw_ids})
    report["tokenizers"][name] = {"class": type(t).__name__, "vocab": raw.get_vocab_size(),
                                  "tokenizers_library_agrees": f"{agree}/{len(cases)}",
                                  "bytes": os.path.getsize(os.path.join(d, "tokenizer.json"))}
    print(f"tokenizer {name:8s} {type(t).__name__:22s} vocab {raw.get_vocab_size()} "
          f"tokenizers library agrees on {agree}/{len(cases)}; {json.dumps(cases[5])} -> {entry['cases'][5]['ids']}")
    return entry


toks = {}

# Qwen2 / Qwen3 (Qwen2Tokenizer): byte-level BPE, NFC, their own split regex (single digits), no BOS.
QWEN_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
              r"\s+(?!\S)|\s+")
qw = Tokenizer(models.BPE())
qw.normalizer = normalizers.NFC()
qw.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN_REGEX), behavior="isolated", invert=False),
                                            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
qw.decoder = decoders.ByteLevel()
qw.post_processor = processors.ByteLevel(trim_offsets=False)
qw.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=640, min_frequency=2, show_progress=False,
                                                   initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                   special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"]))
qw.add_tokens([AddedToken("<tool_call>", special=False, normalized=False),
               AddedToken("</tool_call>", special=False, normalized=False)])
toks["qwen2"] = write_tokenizer("qwen2", qw, {
    "tokenizer_class": "Qwen2Tokenizer", "bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
    "unk_token": None, "add_prefix_space": False, "clean_up_tokenization_spaces": False, "errors": "replace",
    "model_max_length": 32768, "split_special_tokens": False}, strings + extra["qwen"])

# SentencePiece-style BPE with byte fallback (Gemma, Mistral, Phi-3): trained on words with "▁", then the
# 256 byte pieces appended, as SentencePiece vocabularies hold them.
sp = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
sp.normalizer = normalizers.Replace(" ", "\u2581")
sp.pre_tokenizer = pre_tokenizers.Split("\u2581", behavior="merged_with_next")
sp.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=640, min_frequency=2, show_progress=False, limit_alphabet=120,
                                                   special_tokens=["<pad>", "<eos>", "<bos>", "<unk>"]))
spj = json.loads(sp.to_str())
vocab = spj["model"]["vocab"]
for b in range(256):
    vocab.setdefault(f"<0x{b:02X}>", len(vocab))
spj["model"]["byte_fallback"] = True
spj["model"]["fuse_unk"] = True


def sp_tokenizer(normalizer, pre_tokenizer, decoder, post):
    j = dict(spj)
    j["normalizer"], j["pre_tokenizer"], j["decoder"], j["post_processor"] = normalizer, pre_tokenizer, decoder, post
    return Tokenizer.from_str(json.dumps(j))


bos_template = lambda bos, bos_id: {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                                                                              {"Sequence": {"id": "A", "type_id": 0}}],
                                    "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                    "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}}
sp_decoder = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                               {"type": "ByteFallback"}, {"type": "Fuse"}]}

# Gemma (GemmaTokenizer in transformers 5): Replace(" ", "▁") normalizer, Split(" ", merged_with_previous), no
# dummy prefix, BOS <bos>; a few added control tokens.
gm = sp_tokenizer({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
                  {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
                  sp_decoder, bos_template("<bos>", vocab["<bos>"]))
gm.add_special_tokens([AddedToken("<start_of_turn>", special=True, normalized=False),
                       AddedToken("<end_of_turn>", special=True, normalized=False)])
toks["gemma"] = write_tokenizer("gemma", gm, {
    "tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>",
    "pad_token": "<pad>", "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
    "spaces_between_special_tokens": False}, strings + extra["sp"])

# Mistral and Phi-3 ship LLaMA-2-style SentencePiece tokenizers (tokenizer_class LlamaTokenizer): the
# LLaMA-2 tokenizer.json pipeline (Prepend + Replace), with the flags of each release.
llama_norm = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
llama_decoder = {"type": "Sequence", "decoders": sp_decoder["decoders"] + [{"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
for name, flags in (("mistral", {"add_bos_token": True, "add_eos_token": False, "legacy": True}),
                    ("phi3", {"add_bos_token": False, "add_eos_token": False, "legacy": False})):
    lt = sp_tokenizer(llama_norm, None, llama_decoder, bos_template("<bos>", vocab["<bos>"]))
    toks[name] = write_tokenizer(name, lt, dict(flags, tokenizer_class="LlamaTokenizer", bos_token="<bos>", eos_token="<eos>",
                                                unk_token="<unk>", pad_token=None, clean_up_tokenization_spaces=False),
                                 strings + extra["sp"])

json.dump(toks, open(os.path.join(out, "tokenizers.json"), "w"), ensure_ascii=False, indent=0)


# ---------------------------------------------------------------- summary
total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
report["total_bytes"] = total
json.dump(report, open(os.path.join(out, "report.json"), "w"), indent=1, sort_keys=True)
print(f"wrote {out}: {len(report['models'])} models, {len(toks)} tokenizers, {total / 1024:.0f} KiB in all "
      f"(transformers {transformers.__version__}, torch {torch.__version__})")
if total > 1536 * 1024:
    print("warning: the fixtures exceed 1.5 MiB", file=sys.stderr)
