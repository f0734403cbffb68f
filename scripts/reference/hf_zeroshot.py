#!/usr/bin/env python3
"""Recompute ob1q's zero-shot log-likelihoods with plain HF transformers (GPU machine).

ob1q eval --tasks ... --dump-requests R.jsonl writes one line per (context, continuation) request
with its token ids, log-likelihood and greedy flag. This script re-tokenizes each pair the way
lm-evaluation-harness does (trailing context whitespace moves to the continuation; continuation
ids = enc(context + continuation)[len(enc(context)):], no special tokens), runs the model on
(context + continuation)[:-1] left-truncated to the model's length, and compares per request
(ids, |delta LL|, greedy) and per task the accuracy over the documents whose requests are all
among the first --per-task requests.

  python3 scripts/reference/hf_zeroshot.py --model M --requests R.jsonl --per-task 100 --json out.json

Requirements: a CUDA GPU; Python >= 3.8, torch, transformers (known to work: torch 2.11.0 and
transformers 5.17.0). A missing package ends the script with one line naming it and exit status 2.
"""
import argparse, collections, json, math, os, sys
try:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
except ModuleNotFoundError as e:  # one clear line instead of a traceback; 2 = a requirement is missing
    pkg = (e.name or str(e)).split(".")[0]
    print(f"{os.path.basename(sys.argv[0])}: needs the Python package '{pkg}' (pip install {pkg})", file=sys.stderr)
    sys.exit(2)


def encode_pair(tok, context, continuation):
    n = len(context) - len(context.rstrip())
    if n:
        continuation, context = context[-n:] + continuation, context[:-n]
    enc = lambda s: tok(s, add_special_tokens=False).input_ids
    if context == "":
        prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
        return [prefix], enc(continuation)
    whole, ctx = enc(context + continuation), enc(context)
    return ctx, whole[len(ctx):]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--per-task", type=int, default=100)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--json")
    ap.add_argument("--dump", help="write every compared request's HF log-likelihood as JSONL")
    a = ap.parse_args()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=getattr(torch, a.dtype)).cuda().eval()
    maxlen = model.config.max_position_embeddings

    by_task = collections.OrderedDict()
    for line in open(a.requests):
        r = json.loads(line)
        by_task.setdefault(r["task"], []).append(r)
    report = {}
    dump = open(a.dump, "w") if a.dump else None
    for task, reqs in by_task.items():
        reqs = reqs[: a.per_task]
        max_d, ids_differ, over, greedy_differ = 0.0, 0, 0, 0
        hf = {}
        for r in reqs:
            ctx, cont = encode_pair(tok, r["context"], r["continuation"])
            ids_differ += (ctx != r["context_ids"]) or (cont != r["continuation_ids"])
            full = (ctx + cont)[-(maxlen + 1):]
            with torch.no_grad():
                logits = model(torch.tensor([full[:-1]], device="cuda")).logits[0].float()
            lp = logits[-len(cont):].log_softmax(-1)
            target = torch.tensor(cont, device="cuda")
            ll = lp.gather(1, target[:, None]).sum().item()
            greedy = bool((lp.argmax(-1) == target).all().item())
            d = abs(ll - r["ll"])
            max_d, over = max(max_d, d), over + (d > a.tol)
            greedy_differ += greedy != r["greedy"]
            hf[(r["doc"], r["choice"])] = (ll, greedy)
            if dump:
                dump.write(json.dumps({"task": task, "doc": r["doc"], "choice": r["choice"], "ll_hf": ll,
                                       "ll_ob1q": r["ll"], "tokens": len(full) - 1}) + "\n")
        # Accuracy over the documents fully inside the compared requests.
        docs = collections.OrderedDict()
        for r in by_task[task]:
            docs.setdefault(r["doc"], []).append(r)
        acc_hf = acc_ob = n = 0
        for doc, rs in docs.items():
            if not all((x["doc"], x["choice"]) in hf for x in rs):
                continue
            n += 1
            if task.startswith("lambada"):
                acc_hf += hf[(doc, 0)][1]
                acc_ob += rs[0]["greedy"]
                continue
            gold = rs[0]["gold"]
            acc_hf += max(range(len(rs)), key=lambda i: (hf[(doc, rs[i]["choice"])][0], -i)) == gold
            acc_ob += max(range(len(rs)), key=lambda i: (rs[i]["ll"], -i)) == gold
        report[task] = {"requests": len(reqs), "token_ids_differ": ids_differ, "max_abs_ll_diff": max_d,
                        f"over_{a.tol:g}": over, "greedy_differ": greedy_differ, "docs": n,
                        "acc_hf": acc_hf / max(n, 1), "acc_ob1q": acc_ob / max(n, 1),
                        "acc_identical": acc_hf == acc_ob}
    print(f"{'task':16s} {'reqs':>5s} {'ids≠':>5s} {'max|ΔLL|':>10s} {'>tol':>5s} {'docs':>5s} {'acc HF':>7s} {'acc ob1q':>8s}")
    for t, v in report.items():
        print(f"{t:16s} {v['requests']:5d} {v['token_ids_differ']:5d} {v['max_abs_ll_diff']:10.2e} "
              f"{v[f'over_{a.tol:g}']:5d} {v['docs']:5d} {v['acc_hf']:7.3f} {v['acc_ob1q']:8.3f}")
    out = {"model": a.model, "dtype": a.dtype, "device": torch.cuda.get_device_name(), "tasks": report}
    if a.json:
        json.dump(out, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()
