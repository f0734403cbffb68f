#!/usr/bin/env bash
# The paper's comparison on one model (GPU machine): FP16, BiLLM, ARB-X, ARB-RC, OA and the OA
# ablations (Table 3: --amp off; Table 4: --oa-objective act; Table 5: OA on q/k/v/o instead of
# the final FC; Table 8: --oa-k 1|10). One JSON per run under results/sweep_<model>/, then a
# markdown table (results/sweep_<model>.md) printed at the end.
#   scripts/sweep_paper.sh MODEL_DIR DATA_DIR [OB1Q_BINARY] [RUNS...]
set -uo pipefail
cd "$(dirname "$0")/.."
model=${1:?model dir}; data=${2:?data dir}; bin=${3:-build/ob1q}; shift $(( $# > 3 ? 3 : $# ))
name=$(basename "$model"); dir=results/sweep_$name; mkdir -p "$dir"
case $(jq -r .model_type "$model/config.json" 2>/dev/null || python3 -c "import json;print(json.load(open('$model/config.json'))['model_type'])") in
  opt) o_proj=out_proj;; *) o_proj=o_proj;;
esac
# run name | method | extra flags
runs=(
  "billm|billm|" "arb-x|arb-x|" "arb-rc|arb-rc|" "oa|oa|"
  "oa-no-amp|oa|--amp off" "oa-act-error|oa|--oa-objective act"
  "oa-q_proj|oa|--oa-layers q_proj" "oa-k_proj|oa|--oa-layers k_proj" "oa-v_proj|oa|--oa-layers v_proj"
  "oa-$o_proj|oa|--oa-layers $o_proj" "oa-k1|oa|--oa-k 1" "oa-k10|oa|--oa-k 10"
  "oa-cholesky|oa|--oa-solver cholesky-f64"
)
[ $# -gt 0 ] && runs=("$@")
"$bin" eval --model "$model" --data-dir "$data" --ppl wikitext2,ptb,c4 --json "$dir/fp16.json" --log-level warn >/dev/null
for r in "${runs[@]}"; do
  IFS='|' read -r tag method flags <<<"$r"
  echo "== $tag: $method $flags"
  "$bin" quantize --model "$model" --data-dir "$data" --method "$method" $flags --out "/tmp/sweep_${name}_$tag" \
    --overwrite --diagnostics "$dir/$tag.diag.json" --json "$dir/$tag.quant.json" --log-level warn >/dev/null || continue
  "$bin" eval --model "/tmp/sweep_${name}_$tag" --data-dir "$data" --ppl wikitext2,ptb,c4 --json "$dir/$tag.json" \
    --log-level warn >/dev/null
done
python3 - "$dir" "$name" "$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" <<'PY'
import json, os, sys
d, name, gpu = sys.argv[1], sys.argv[2], sys.argv[3]
def load(f):
    p = os.path.join(d, f)
    return json.load(open(p)) if os.path.exists(p) else None
rows = ["fp16"] + sorted({f[:-5] for f in os.listdir(d) if f.endswith(".json") and not f.endswith((".diag.json", ".quant.json")) and f != "fp16.json"},
                         key=lambda t: ["billm", "arb-x", "arb-rc", "oa"].index(t) if t in ("billm", "arb-x", "arb-rc", "oa") else 9)
rc = load("arb-rc.quant.json")
lines = [f"# {name}: the paper's comparison ({gpu})", "",
         "| run | bits | wikitext2 | ptb | c4 | quant time (s) | time / arb-rc | peak GPU (GiB) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
for t in rows:
    e, q = load(t + ".json"), load(t + ".quant.json")
    if not e: continue
    p = e["ppl"]
    bits = f"{q['bits_per_weight']:.3f}" if q else "16"
    qt = f"{q['seconds']:.1f}" if q else "–"
    rel = f"{q['seconds'] / rc['seconds']:.2f}x" if q and rc else "–"
    mem = f"{q['peak_device_memory_bytes'] / 2**30:.2f}" if q else "–"
    lines.append(f"| {t} | {bits} | {p['wikitext2']['ppl']:.2f} | {p['ptb']['ppl']:.2f} | {p['c4']['ppl']:.2f} | {qt} | {rel} | {mem} |")
open(os.path.join(os.path.dirname(d), f"sweep_{name}.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
