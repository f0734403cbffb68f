#!/usr/bin/env bash
# GPU machine: tokens/s of fp16 WikiText-2 evaluation, ob1q vs HF transformers on the same GPU
# and model, side by side. Writes results/bench_eval_<model>.json and prints a table.
#   scripts/bench_eval.sh MODEL_DIR DATA_DIR [OB1Q_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model dir}; data=${2:?data dir}; bin=${3:-build/ob1q}
name=$(basename "$model")
mkdir -p results
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
"$bin" eval --model "$model" --data-dir "$data" --ppl wikitext2 --dtype fp16 --device cuda --json results/.ob1q_auto.json --log-level warn >/dev/null
"$bin" eval --model "$model" --data-dir "$data" --ppl wikitext2 --dtype fp16 --device cuda --batch-size 1 --json results/.ob1q_b1.json --log-level warn >/dev/null
python3 scripts/reference/hf_ppl.py --model "$model" --data-dir "$data" --ppl wikitext2 --dtype fp16 --json results/.hf.json >/dev/null 2>&1
python3 - "$gpu" "$name" <<'PY'
import json, sys
gpu, name = sys.argv[1], sys.argv[2]
rows = [("ob1q (auto batch)", json.load(open("results/.ob1q_auto.json"))),
        ("ob1q (batch 1)", json.load(open("results/.ob1q_b1.json"))),
        ("transformers (batch 1)", json.load(open("results/.hf.json")))]
out = {"device": gpu, "model": name, "dataset": "wikitext2", "dtype": "fp16", "runs": {}}
print(f"{'tool':<24}{'ppl':>10}{'windows':>9}{'tokens/s':>12}   ({gpu}, {name}, wikitext2 fp16)")
for label, r in rows:
    w = r["ppl"]["wikitext2"]
    out["runs"][label] = {k: w[k] for k in ("ppl", "windows", "tokens", "seconds", "tokens_per_s")}
    print(f"{label:<24}{w['ppl']:>10.3f}{w['windows']:>9}{w['tokens_per_s']:>12.0f}")
json.dump(out, open(f"results/bench_eval_{name}.json", "w"), indent=2)
PY
