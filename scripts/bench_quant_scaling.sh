#!/usr/bin/env bash
# GPU machine: quantization time per decoder block and peak GPU memory on a LLaMA-2-7B-shaped
# checkpoint with random weights (128 x 2048 C4 windows, seed 0). Writes
# results/bench_quant_scaling.json and prints a table.
#   scripts/bench_quant_scaling.sh DATA_DIR LLAMA2_TOKENIZER_DIR [METHOD] [LAYERS] [OB1Q_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?data dir}; tokdir=${2:?llama-2 tokenizer dir}; method=${3:-arb-rc}; layers=${4:-2}; bin=${5:-build/ob1q}
ckpt=/tmp/llama2-7b-shaped-${layers}
[ -f "$ckpt/config.json" ] || python3 scripts/reference/make_random_llama.py --out "$ckpt" --layers "$layers" --tokenizer "$tokdir" >/dev/null
mkdir -p results
"$bin" quantize --model "$ckpt" --data-dir "$data" --method "$method" --out /tmp/q-scaling --overwrite \
  --json results/.scaling.json --log-level warn
python3 - "$method" "$layers" "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" <<'PY'
import json, sys, collections
method, layers, gpu = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = json.load(open("results/.scaling.json"))
per_block = collections.OrderedDict()
for l in r["layers"]:
    b = int(l["layer"].split(".")[2]); per_block[b] = per_block.get(b, 0) + l["ms"] / 1000
block_s = {b["block"]: b["seconds"] for b in r["blocks"]}
out = {"device": gpu, "model": "LLaMA-2-7B-shaped, random fp16 weights", "method": method, "blocks": layers,
       "block_seconds": block_s,
       "nsamples": r["calibration"]["nsamples"], "seqlen": r["calibration"]["seqlen"], "total_seconds": r["seconds"],
       "linear_seconds_per_block": per_block, "peak_device_memory_gib": r["peak_device_memory_bytes"] / 2**30,
       "per_linear_seconds": {l["layer"]: l["ms"] / 1000 for l in r["layers"]}}
out["estimated_32_blocks_minutes"] = r["seconds"] / layers * 32 / 60
json.dump(out, open(f"results/bench_quant_scaling_{method}.json", "w"), indent=2)
print(f"{gpu}: {method}, {layers} blocks of LLaMA-2-7B shape, {out['nsamples']}x{out['seqlen']} windows")
print(f"total {r['seconds']:.1f} s (incl. calibration, streams, I/O), peak GPU {out['peak_device_memory_gib']:.2f} GiB")
for b, s in per_block.items(): print(f"  block {b}: {block_s[b]:.1f} s (linears {s:.1f} s)")
out["estimated_32_blocks_minutes"] = sum(block_s.values()) / layers * 32 / 60
print(f"  => about {out['estimated_32_blocks_minutes']:.1f} min for 32 blocks (per-block time x 32)")
json.dump(out, open(f"results/bench_quant_scaling_{method}.json", "w"), indent=2)
PY
