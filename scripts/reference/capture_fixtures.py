#!/usr/bin/env python3
"""Capture independent reference fixtures with HF transformers/tokenizers (run on the GPU machine).

Writes, under --out:
  tokenizers.json        expected ids of hard strings for every tokenizer we support
  tiny/<name>/           small random HF checkpoints (config.json + safetensors) and
                         expected.safetensors = {input_ids, logits} computed by transformers in fp32
  calib_windows.json     §3 C4 calibration draws (doc index, offset, sha256) for llama-s and opt-s
These are committed under tests/fixtures/ and asserted by the C++ tests.

Requirements: Python >= 3.8, torch, transformers (with its tokenizers), safetensors, numpy; known
to work: torch 2.11.0+cu130 and transformers 5.17.0 (recorded in tests/fixtures/report.json).
A missing package ends the script with one line naming it and exit status 2.
"""
import argparse, gzip, hashlib, json, os, random, shutil, sys, tempfile

try:
    import numpy  # noqa: F401 (torch's .numpy() below needs it)
    import torch
    import transformers
    from safetensors.torch import save_file
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)

p = argparse.ArgumentParser()
p.add_argument("--shared", required=True, help="copy of ../shared (models/, data/)")
p.add_argument("--out", required=True)
args = p.parse_args()
os.makedirs(args.out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
strings = json.load(open(os.path.join(here, "hard_strings.json")))
S = args.shared
report = {"transformers": transformers.__version__, "torch": torch.__version__}


# ---------------------------------------------------------------- tokenizers
def tok_dirs():
    tmp = tempfile.mkdtemp()
    l3 = os.path.join(tmp, "llama3")
    os.makedirs(l3)
    with gzip.open(os.path.join(S, "data/tokenizers/llama3/tokenizer.json.gz")) as f, open(
        os.path.join(l3, "tokenizer.json"), "wb"
    ) as g:
        shutil.copyfileobj(f, g)
    shutil.copy(os.path.join(S, "data/tokenizers/llama3/tokenizer_config.json"), l3)
    return {
        "llama-s": os.path.join(S, "models/llama-s"),
        "opt-s": os.path.join(S, "models/opt-s"),
        "llama2": os.path.join(S, "data/tokenizers/llama2"),
        "llama3": l3,
    }


toks = {}
for name, d in tok_dirs().items():
    if not os.path.isdir(d):
        print("skip tokenizer", name, d)
        continue
    t = transformers.AutoTokenizer.from_pretrained(d)
    entry = {"class": type(t).__name__, "cases": []}
    for s in strings:
        entry["cases"].append(
            {
                "text": s,
                "ids": t(s)["input_ids"],
                "ids_no_special": t(s, add_special_tokens=False)["input_ids"],
            }
        )
    toks[name] = entry
    print("tokenizer", name, type(t).__name__, entry["cases"][5]["ids"])

# GPT-2 from encoder.json + vocab.bpe (slow-style files), through the tokenizers library
try:
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders

    g = os.path.join(S, "data/tokenizers/gpt2")
    bpe = models.BPE.from_file(os.path.join(g, "encoder.json"), os.path.join(g, "vocab.bpe"))
    tk = Tokenizer(bpe)
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    entry = {"class": "tokenizers.BPE(gpt2 files)", "cases": []}
    for s in strings:
        ids = tk.encode(s).ids
        entry["cases"].append({"text": s, "ids": ids, "ids_no_special": ids})
    toks["gpt2"] = entry
    # cross-check with transformers' GPT2Tokenizer when it accepts the files
    try:
        t2 = transformers.GPT2Tokenizer(vocab_file=os.path.join(g, "encoder.json"), merges_file=os.path.join(g, "vocab.bpe"))
        same = all(t2(c["text"], add_special_tokens=False)["input_ids"] == c["ids"] for c in entry["cases"])
        report["gpt2_transformers_agrees"] = same
    except Exception as e:  # noqa
        report["gpt2_transformers_agrees"] = "n/a: %s" % e
except Exception as e:
    print("gpt2 failed", e)
json.dump(toks, open(os.path.join(args.out, "tokenizers.json"), "w"), ensure_ascii=False, indent=0)


# ---------------------------------------------------------------- tiny random checkpoints
def save_tiny(name, model, ids, dtype=None, shard=None, v4_keys=False):
    d = os.path.join(args.out, "tiny", name)
    os.makedirs(d, exist_ok=True)
    model.eval()
    if dtype is not None:
        model = model.to(dtype)
    kw = {"safe_serialization": True}
    if shard:
        kw["max_shard_size"] = shard
    model.save_pretrained(d, **kw)
    # reload the saved weights exactly as a user would, compute fp32 logits
    m = type(model).from_pretrained(d, torch_dtype=torch.float32, attn_implementation="eager")
    m.eval()
    with torch.no_grad():
        logits = m(ids).logits[0].float().contiguous()
    save_file({"input_ids": ids[0].to(torch.int64).contiguous(), "logits": logits}, os.path.join(d, "expected.safetensors"))
    if v4_keys:  # rewrite config.json with transformers-4 key names
        cfg = json.load(open(os.path.join(d, "config.json")))
        if "dtype" in cfg:
            cfg["torch_dtype"] = cfg.pop("dtype")
        rp = cfg.pop("rope_parameters", None)
        if rp:
            cfg["rope_theta"] = rp.pop("rope_theta")
            if rp.get("rope_type", "default") != "default":
                cfg["rope_scaling"] = rp
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    for f in os.listdir(d):
        if f.endswith(".bin") or f == "generation_config.json":
            os.remove(os.path.join(d, f))
    print("tiny", name, sorted(os.listdir(d)), logits.shape)


torch.manual_seed(1234)
ids = torch.randint(0, 160, (1, 48))
from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM

def llama_cfg(**kw):
    base = dict(vocab_size=160, hidden_size=64, intermediate_size=112, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    base.update(kw)
    return LlamaConfig(**base)

# LLaMA-3 style: GQA, rope theta 5e5, llama3 rope scaling, untied head
c = llama_cfg(num_key_value_heads=2, head_dim=16,
              rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 32})
torch.manual_seed(1)
save_tiny("llama3-gqa", LlamaForCausalLM(c), ids)
# LLaMA-2 style, tied head, transformers-4 config keys, sharded checkpoint
c = llama_cfg(tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
torch.manual_seed(2)
save_tiny("llama-tied-v4-sharded", LlamaForCausalLM(c), ids, shard="60KB", v4_keys=True)
# bf16 storage, head_dim != hidden/heads
c = llama_cfg(num_key_value_heads=1, head_dim=24, rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
torch.manual_seed(3)
save_tiny("llama-bf16-mqa", LlamaForCausalLM(c), ids, dtype=torch.bfloat16)
# OPT-350m style: post-LN, word_embed_proj_dim != hidden (project_in/out), tied head
def opt_cfg(**kw):
    base = dict(vocab_size=160, hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4,
                max_position_embeddings=256, word_embed_proj_dim=64, do_layer_norm_before=True,
                pad_token_id=1, bos_token_id=2, eos_token_id=2, activation_function="relu")
    base.update(kw)
    return OPTConfig(**base)
torch.manual_seed(4)
save_tiny("opt350m-style", OPTForCausalLM(opt_cfg(word_embed_proj_dim=32, do_layer_norm_before=False)), ids)
torch.manual_seed(5)
save_tiny("opt-untied-fp16", OPTForCausalLM(opt_cfg(tie_word_embeddings=False)), ids, dtype=torch.float16)


# ---------------------------------------------------------------- calibration windows (§3)
def c4_docs(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(l)["text"] for l in f]

calib = {}
docs = c4_docs(os.path.join(S, "data/c4/c4-train.00000-of-01024.head1041.jsonl.gz"))
for name in ("llama-s", "opt-s"):
    d = os.path.join(S, "models", name)
    if not os.path.isdir(d):
        continue
    t = transformers.AutoTokenizer.from_pretrained(d)
    rng = random.Random(0)
    wins, h = [], hashlib.sha256()
    for _ in range(128):
        while True:
            i = rng.randint(0, len(docs) - 1)
            e = t(docs[i])["input_ids"]
            if len(e) > 2048:
                break
        o = rng.randint(0, len(e) - 2048 - 1)
        w = e[o:o + 2048]
        h.update(torch.tensor(w, dtype=torch.int32).numpy().tobytes())
        wins.append([i, o, len(e)])
    calib[name] = {"nsamples": 128, "seqlen": 2048, "seed": 0, "windows": wins, "sha256": h.hexdigest()}
    print("calib", name, wins[:3], h.hexdigest())
# the raw generator itself, for the MT19937/init_by_array port
rng = random.Random(0)
calib["python_random_seed0"] = {"randint_0_1040": [rng.randint(0, 1040) for _ in range(20)],
                                "getrandbits32": [random.Random(0).getrandbits(32)]}
json.dump(calib, open(os.path.join(args.out, "calib_windows.json"), "w"), indent=0)
json.dump(report, open(os.path.join(args.out, "report.json"), "w"), indent=1)
print(json.dumps(report))
