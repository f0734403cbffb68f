#!/usr/bin/env python3
"""transformers' own speed on the fp16/bf16 model of the same shape as a checkpoint (the peer that
`ob1q bench` is compared with): greedy `generate` of --gen-tokens after --prompt-tokens random
ids (decode tokens/s from two runs of different length, so prefill cancels out), and a forward of
--prefill-tokens ids (prefill tokens/s). Random weights: only speed is measured.

    python3 scripts/reference/hf_generate_bench.py --config DIR [--attn eager|sdpa] --json OUT

Requires: Python >= 3.9, torch with CUDA, transformers (known to work: torch 2.11.0, transformers 5.17.0).
"""
import argparse
import json
import sys
import time

try:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
except ImportError as e:
    print(f"hf_generate_bench.py: needs the Python package '{e.name}' (pip install {e.name})", file=sys.stderr)
    sys.exit(2)


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t)
    return sorted(out)[len(out) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="model directory whose config.json gives the shape")
    ap.add_argument("--dtype", choices=["fp16", "bf16", "auto"], default="auto")
    ap.add_argument("--attn", choices=["eager", "sdpa"], default="eager")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--gen-tokens", type=int, default=256)
    ap.add_argument("--prefill-tokens", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    cfg = AutoConfig.from_pretrained(a.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(a.dtype) or (
        torch.bfloat16 if getattr(cfg, "dtype", None) in ("bfloat16", torch.bfloat16) else torch.float16)
    cfg._attn_implementation = a.attn
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype).eval()
    for p in model.parameters():  # keep activations finite through the random blocks
        p.data.mul_(0.5)
    V = cfg.vocab_size
    ids = torch.randint(0, V, (1, a.prompt_tokens), device="cuda")
    pre = torch.randint(0, V, (1, a.prefill_tokens), device="cuda")
    kw = dict(do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=8, min_new_tokens=8, **kw)  # warm-up
        t_short = timed(lambda: model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kw), a.repeat)
        t_long = timed(lambda: model.generate(ids, max_new_tokens=a.gen_tokens, min_new_tokens=a.gen_tokens, **kw), 1)
        model(pre)
        t_pre = timed(lambda: model(pre), a.repeat)
    r = {"tool": "transformers", "config": a.config, "device_name": torch.cuda.get_device_name(0), "dtype": str(dtype),
         "attn": a.attn, "prompt_tokens": a.prompt_tokens, "gen_tokens": a.gen_tokens,
         "decode_tokens_per_s": (a.gen_tokens - 2) / (t_long - t_short),
         "prefill_tokens": a.prefill_tokens, "prefill_tokens_per_s": a.prefill_tokens / t_pre,
         "weights_bytes": sum(p.numel() * p.element_size() for p in model.parameters())}
    print(json.dumps(r))
    if a.json:
        json.dump(r, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
