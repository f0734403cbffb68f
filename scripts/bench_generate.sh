#!/usr/bin/env bash
# GPU machine: the 1-bit model running as a 1-bit model at full scale. Writes a packed checkpoint
# of the LLaMA-2-7B (fp16) or LLaMA-3-8B (bf16) shape with random bits (scripts/make_random_packed.py),
# then, in one run on the same GPU: `ob1q bench` of the packed model and of the same model
# dequantized to dense weights (--compare-dense), and transformers' generate/prefill on a model of
# that shape (scripts/reference/hf_generate_bench.py). JSON under OUTDIR, a table at the end.
#   scripts/bench_generate.sh 7b|8b [OB1Q_BINARY] [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shape=${1:?7b or 8b}; bin=${2:-build-gpu/ob1q}; out=${3:-results/gpu/runtime}
mkdir -p "$out"
dir=${RANDOM_PACKED_DIR:-/tmp/rp-$shape}
dt=$([ "$shape" = 8b ] && echo bf16 || echo fp16)
[ -f "$dir/ob1q_manifest.json" ] || python3 scripts/make_random_packed.py --shape "$shape" --out "$dir" ${LAYERS:+--layers $LAYERS} 2>"$out/make_random_$shape.log" || { tail -5 "$out/make_random_$shape.log"; exit 1; }
"$bin" bench --model "$dir" --dtype "$dt" --prompt-tokens 128 --gen-tokens 256 --prefill-tokens 512 --repeat 3 \
  --compare-dense --json "$out/bench_$shape.json" --log-level warn
if [ -z "${SKIP_HF:-}" ]; then
  python3 scripts/reference/hf_generate_bench.py --config "$dir" --attn eager --prompt-tokens 128 --gen-tokens "${HF_GEN:-64}" \
    --prefill-tokens 512 --json "$out/hf_$shape.json" >/dev/null
fi
python3 - "$out" "$shape" <<'PY'
import json, os, sys
out, shape = sys.argv[1], sys.argv[2]
b = json.load(open(f"{out}/bench_{shape}.json"))
hf = json.load(open(f"{out}/hf_{shape}.json")) if os.path.exists(f"{out}/hf_{shape}.json") else None
v = {x["weights"]: x for x in b["variants"]}
print(f"{shape} on {b['device_name']} ({b['dtype']}): decode {b['gen_tokens']} after {b['prompt_tokens']}, prefill {b['prefill_tokens']}")
print(f"{'model':<22}{'decode tok/s':>14}{'prefill tok/s':>15}{'GB/s':>8}{'linears GiB':>13}{'weights GiB':>13}")
for k in ("packed", "dense"):
    if k in v:
        x = v[k]
        print(f"{'ob1q ' + k:<22}{x['decode_tokens_per_s']:>14.1f}{x['prefill_tokens_per_s']:>15.0f}{x['decode_gb_per_s']:>8.0f}"
              f"{x['linear_weights_bytes'] / 2**30:>13.3f}{x['weights_bytes'] / 2**30:>13.3f}")
if hf:
    print(f"{'transformers ' + hf['attn']:<22}{hf['decode_tokens_per_s']:>14.1f}{hf['prefill_tokens_per_s']:>15.0f}{'':>8}{'':>13}"
          f"{hf['weights_bytes'] / 2**30:>13.3f}")
if "packed" in v and "dense" in v:
    p, d = v["packed"], v["dense"]
    print(f"packed/dense: decode {p['decode_tokens_per_s'] / d['decode_tokens_per_s']:.2f}x, prefill "
          f"{p['prefill_tokens_per_s'] / d['prefill_tokens_per_s']:.2f}x, linear memory {p['linear_weights_bytes'] / d['linear_weights_bytes']:.3f}x")
    if hf:
        print(f"vs transformers: packed decode {p['decode_tokens_per_s'] / hf['decode_tokens_per_s']:.1f}x, dense decode "
              f"{d['decode_tokens_per_s'] / hf['decode_tokens_per_s']:.1f}x")
PY
