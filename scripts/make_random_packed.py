#!/usr/bin/env python3
"""Writes a full-size packed 1-bit checkpoint (docs/format.md) with random bits and scales, straight
in the format, so that kernel and generation speed can be measured at full scale without a
quantization run. Shapes: LLaMA-2-7B (fp16) and LLaMA-3-8B (bf16), every block, every linear in
the binary-blocks layout of ARB-RC with the column-group bitmap (6 scale slots per block of 128
columns), salient columns drawn per block (Binomial(128, --salient)).

    python3 scripts/make_random_packed.py --shape 7b --out /tmp/rp-7b [--layers N] [--seed S]

Requires: Python >= 3.9, numpy (known to work: numpy 2.5); the safetensors files are written here.
The weights mean nothing: use the result for speed and memory only.
"""
import argparse
import hashlib
import json
import os
import sys

try:
    import numpy as np
except ImportError as e:  # one clear line, as the other reference scripts
    print(f"make_random_packed.py: needs the Python package '{e.name}' (pip install {e.name})", file=sys.stderr)
    sys.exit(2)

SHAPES = {
    "7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096, rope_theta=10000.0,
               dtype="float16"),
    "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
               num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
               dtype="bfloat16"),
}
BLOCK = 128
GROUPS = [{"name": "S_hi", "salient": True, "hi": True, "planes": 2},
          {"name": "S_lo", "salient": True, "hi": False, "planes": 2},
          {"name": "N_hi", "salient": False, "hi": True, "planes": 1},
          {"name": "N_lo", "salient": False, "hi": False, "planes": 1}]
SLOTS = 6


class BF16(np.ndarray):
    """bf16 values held as their uint16 bit patterns (numpy has no bfloat16)."""


def to_dtype(a, dtype):
    """float32 array -> the storage dtype (bf16: round to nearest even, kept as bit patterns)."""
    if dtype == "float16":
        return a.astype(np.float16)
    u = a.astype(np.float32).view(np.uint32)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16).view(BF16)


ST_DTYPES = {np.dtype(np.uint8): "U8", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64",
             np.dtype(np.float32): "F32", np.dtype(np.uint16): "U16"}


def save_file(tensors, path, metadata):
    """A safetensors file: 8-byte header length, JSON header (padded to 8 bytes), raw data."""
    header, offset = {"__metadata__": metadata}, 0
    for name, t in tensors.items():
        dt = "BF16" if isinstance(t, BF16) else ST_DTYPES[t.dtype]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for t in tensors.values():
            f.write(np.ascontiguousarray(t).view(np.uint8).tobytes())


def packed_linear(rng, m, d, salient_p):
    nb = (d + BLOCK - 1) // BLOCK
    sal = np.zeros(d, dtype=bool)
    for b in range(nb):
        w = min(BLOCK, d - b * BLOCK)
        k = min(w, rng.binomial(w, salient_p))
        sal[b * BLOCK + rng.choice(w, size=k, replace=False)] = True
    k = int(sal.sum())
    t = {
        "sign": rng.integers(0, 256, size=(m, (d + 7) // 8), dtype=np.uint8),
        "hi": rng.integers(0, 256, size=(m, (d + 7) // 8), dtype=np.uint8),
        "sign2": rng.integers(0, 256, size=(m, (k + 7) // 8), dtype=np.uint8),
        "salient": np.packbits(sal, bitorder="little"),
        # Row scales ~ 1/sqrt(d): outputs keep the scale of the inputs through the random blocks.
        "row_scale": (rng.uniform(0.5, 1.5, size=(nb, SLOTS, m)) / np.sqrt(d)).astype(np.float16),
        "col_scale": rng.uniform(0.5, 1.5, size=(nb, SLOTS, BLOCK)).astype(np.float16),
        "weight_shape": np.array([m, d], dtype=np.int64),
    }
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", type=int, default=0, help="blocks (default: the model's)")
    ap.add_argument("--salient", type=float, default=0.125, help="salient column probability per block")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-mib", type=int, default=2048)
    a = ap.parse_args()
    cfg = dict(SHAPES[a.shape])
    if a.layers:
        cfg["num_hidden_layers"] = a.layers
    H, F, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    nh, nkv, V = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["vocab_size"]
    hd = H // nh
    dt = cfg["dtype"]
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)

    layout = {"layout": "binary-blocks", "blocksize": BLOCK, "formula": "rc", "groups": GROUPS}
    modules, shards, weight_map = {}, [], {}
    current, current_bytes = {}, 0

    def flush():
        nonlocal current, current_bytes
        if not current:
            return
        name = f"model-{len(shards) + 1:05d}.safetensors"
        save_file(current, os.path.join(a.out, name), metadata={"format": "pt", "ob1q.format_version": "1"})
        for k in current:
            weight_map[k] = name
        shards.append(name)
        current, current_bytes = {}, 0

    def add(name, arr):
        nonlocal current_bytes
        if current_bytes + arr.nbytes > a.shard_mib << 20:
            flush()
        current[name] = arr if isinstance(arr, BF16) else np.ascontiguousarray(arr)
        current_bytes += arr.nbytes

    add("model.embed_tokens.weight", to_dtype(rng.standard_normal((V, H), dtype=np.float32) * 0.02, dt))
    linears = [("self_attn.q_proj", nh * hd, H), ("self_attn.k_proj", nkv * hd, H), ("self_attn.v_proj", nkv * hd, H),
               ("self_attn.o_proj", H, nh * hd), ("mlp.gate_proj", F, H), ("mlp.up_proj", F, H), ("mlp.down_proj", H, F)]
    for i in range(L):
        p = f"model.layers.{i}."
        for n, m, d in linears:
            for suffix, arr in packed_linear(rng, m, d, a.salient).items():
                add(p + n + "." + suffix, arr)
            modules[p + n] = {"layout": "L0", "shape": [m, d]}
        add(p + "input_layernorm.weight", to_dtype(np.ones(H, dtype=np.float32), dt))
        add(p + "post_attention_layernorm.weight", to_dtype(np.ones(H, dtype=np.float32), dt))
        print(f"block {i + 1}/{L}", file=sys.stderr, flush=True)
    add("model.norm.weight", to_dtype(np.ones(H, dtype=np.float32), dt))
    add("lm_head.weight", to_dtype(rng.standard_normal((V, H), dtype=np.float32) * 0.02, dt))
    flush()
    total = sum(os.path.getsize(os.path.join(a.out, s)) for s in shards)
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              open(os.path.join(a.out, "model.safetensors.index.json"), "w"), indent=2)
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
        **cfg,
        "quantization_config": {
            "quant_method": "ob1q", "format": "ob1q-packed", "format_version": 1, "bits": 1,
            "pack": {"container": "U8", "dim": "in", "bit_order": "lsb_first", "one_means": "+1"},
            "dequant_dtype": dt, "method": "random", "method_params": {"salient": a.salient, "seed": a.seed},
            "calibration": {}, "producer": {"name": "make_random_packed.py"},
            "layouts": {"L0": layout}, "modules": modules,
        },
    }
    json.dump(config, open(os.path.join(a.out, "config.json"), "w"), indent=2)
    files = {}
    for n in shards + ["model.safetensors.index.json"]:
        h = hashlib.sha256()
        with open(os.path.join(a.out, n), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 24), b""):
                h.update(chunk)
        files[n] = {"bytes": os.path.getsize(os.path.join(a.out, n)), "sha256": h.hexdigest()}
    json.dump({"format": "ob1q-packed", "format_version": 1, "files": files,
               "run": {"method": "random", "seed": a.seed}, "source_model": "random " + a.shape},
              open(os.path.join(a.out, "ob1q_manifest.json"), "w"), indent=2)
    print(json.dumps({"out": a.out, "shape": a.shape, "layers": L, "shards": len(shards), "bytes": total}))


if __name__ == "__main__":
    main()
