#!/usr/bin/env python3
"""Reference perplexity with HF transformers, same protocol as `ob1q eval` (docs/methods.md §21):
one tokenization of the whole stream (single BOS), non-overlapping windows, one window per
forward (as the research code does), ppl = exp(mean window loss). Prints JSON shaped like ob1q's.

Requirements: a CUDA GPU; Python >= 3.8, numpy, torch, transformers (known to work: torch 2.11.0
and transformers 5.17.0; `from_pretrained(dtype=...)` is transformers 5's spelling). A missing
package ends the script with one line naming it and exit status 2."""
import argparse, gzip, hashlib, json, math, os, sys, time

try:
    import numpy as np
    import torch
    import transformers
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--data-dir", required=True)
p.add_argument("--ppl", default="wikitext2")
p.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
p.add_argument("--seqlen", type=int, default=2048)
p.add_argument("--limit-windows", type=int, default=0)
p.add_argument("--json", default="")
a = p.parse_args()
dt = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[a.dtype]


def text_of(name):
    d = a.data_dir
    if name == "wikitext2":
        rows = [l if l.strip() else "" for l in open(os.path.join(d, "wikitext2/raw/wiki.test.raw"), encoding="utf-8", newline="\n")]
        return "\n\n".join(rows), None
    if name == "ptb":
        return " ".join(l.strip() for l in open(os.path.join(d, "ptb/ptb.test.txt"), encoding="utf-8")), None
    if name == "c4":
        with gzip.open(os.path.join(d, "c4/c4-validation.00000-of-00008.head1025.jsonl.gz"), "rt", encoding="utf-8") as f:
            docs = [json.loads(l)["text"] for l in f][:1100]
        return " ".join(docs), 256 * a.seqlen
    raise SystemExit("unknown dataset " + name)


tok = transformers.AutoTokenizer.from_pretrained(a.model)
model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=dt, attn_implementation="sdpa").cuda().eval()
out = {"tool": "transformers " + transformers.__version__, "model": a.model, "dtype": a.dtype, "ppl": {}}
for name in a.ppl.split(","):
    text, cap = text_of(name)
    ids = tok(text, return_tensors="pt").input_ids[0]
    sha = hashlib.sha256(ids.numpy().astype("<i4").tobytes()).hexdigest()
    total = ids.numel()
    if cap:
        ids = ids[:cap]
    n = ids.numel() // a.seqlen
    if a.limit_windows:
        n = min(n, a.limit_windows)
    ids = ids[: n * a.seqlen].view(n, a.seqlen).cuda()
    losses = []
    with torch.no_grad():
        model(ids[:1])  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for w in range(n):
            x = ids[w : w + 1]
            logits = model(x).logits.float()
            losses.append(torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:]).item())
        torch.cuda.synchronize()
        secs = time.perf_counter() - t0
    out["ppl"][name] = {"ppl": math.exp(sum(losses) / n), "windows": n, "tokens": n * a.seqlen, "tokens_total": total,
                        "ids_sha256": sha, "seconds": secs, "tokens_per_s": n * a.seqlen / secs}
    print(name, json.dumps(out["ppl"][name]), flush=True)
if a.json:
    json.dump(out, open(a.json, "w"), indent=2)
