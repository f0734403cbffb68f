#!/usr/bin/env bash
# GPU machine (PyTorch's CUDA LibTorch): build, run the test suite, then the measurements named
# in $STEPS for one model. Writes JSON under $OUT (or results/) and prints a table at the end.
#   MODEL=.carry/shared/models/llama-s DATA=.carry/shared/data STEPS="test eval bench quant:arb-rc" scripts/gpu/run_checks.sh
# Steps: test | eval | bench | special:M | quant:M[:TAG:FLAGS] | scaling:M | pack:M | zeroshot:fp16|M | zsref
#        kernels | runtime:M | genbench:7b|8b
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${OUT:-results}"); mkdir -p "$out"
model=${MODEL:?}; data=${DATA:?}; name=$(basename "$model")
export PYTHONUNBUFFERED=1
log() { echo "== $(date +%T) $*"; }
if [ ! -x build-gpu/ob1q ] || [ -n "${REBUILD:-}" ]; then
  log build
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S . -B build-gpu -G Ninja -DCMAKE_PREFIX_PATH="$prefix" > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
  cmake --build build-gpu -j 16 ${TARGETS:+--target $TARGETS} > "$out/build.log" 2>&1 || { grep -E 'error|FAILED' "$out/build.log" | head -30; exit 1; }
  grep -c 'warning:' "$out/build.log" | xargs echo "build warnings:"
fi
bin=build-gpu/ob1q
summary=()
for step in ${STEPS:?}; do
  case $step in
    test)
      log "ctest (LibTorch $(python3 -c 'import torch;print(torch.__version__)'))"
      (cd build-gpu && OB1Q_SHARED=/nonexistent ctest -j 8 --output-on-failure > "$out/ctest.log" 2>&1); tail -3 "$out/ctest.log"
      summary+=("ctest: $(grep -E 'tests passed' "$out/ctest.log")");;
    eval)
      log "eval fp16 $name"
      $bin eval --model "$model" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp16 --json "$out/eval_${name}_fp16.json" --log-level warn
      $bin eval --model "$model" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp32 --limit-windows 4 --json "$out/eval_${name}_fp32_4w.json" --log-level warn;;
    bench)
      log "bench $name"; scripts/bench_eval.sh "$model" "$data" "$bin" && cp results/bench_eval_${name}.json "$out/" ;;
    special:*)  # PTB with "<unk>" parsed as the special token (the released codes' own loaders)
      m=${step#special:}; q=$([ "$m" = fp16 ] && echo "$model" || echo /tmp/q_${name}_${m})
      log "ptb parse-special on: $name $m"
      $bin eval --model "$q" --data-dir "$data" --ppl ptb --parse-special on --json "$out/ptbspecial_${name}_${m}.json" --log-level warn;;
    quant:*)  # quant:METHOD[:TAG:FLAG,FLAG...] e.g. quant:billm:seed1:--seed,1
      IFS=: read -r _ m tag flags <<<"$step"; tag=${tag:+_$tag}; q=/tmp/q_${name}_${m}${tag}
      log "quantize $name $m ${flags//,/ }"
      $bin quantize --model "$model" --data-dir "$data" --method "$m" --out "$q" --overwrite ${flags//,/ } \
        --json "$out/quant_${name}_${m}${tag}.json" --log-level warn
      $bin eval --model "$q" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp16 --json "$out/eval_${name}_${m}${tag}.json" --log-level warn;;
    pack:*)  # packed vs fake-quant of the same method, inspect, export -> transformers, Python reader
      m=${step#pack:}; q=/tmp/q_${name}_${m}; f=/tmp/fq_${name}_${m}; x=/tmp/ex_${name}_${m}
      log "pack $name $m"
      $bin quantize --model "$model" --data-dir "$data" --method "$m" --out "$q" --overwrite --json "$out/quant_${name}_${m}.json" --log-level warn
      $bin quantize --model "$model" --data-dir "$data" --method "$m" --out "$f" --overwrite --format fake-quant --log-level warn --json /dev/null
      $bin eval --model "$q" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp16 --json "$out/eval_${name}_${m}.json" --log-level warn
      $bin eval --model "$f" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp16 --json "$out/eval_${name}_${m}_fakequant.json" --log-level warn
      $bin inspect "$q" --layers --json "$out/inspect_${name}_${m}.json" | tail -6
      du -b "$q"/*.safetensors "$model"/*.safetensors > "$out/du_${name}_${m}.txt"
      $bin export --dequantize "$q" --out "$x" --overwrite --log-level warn
      python3 tools/dequantize_reference.py "$q" --compare "$x" | tee "$out/deqref_export_${name}_${m}.json"
      python3 tools/dequantize_reference.py "$q" --compare "$f" | tee "$out/deqref_fakequant_${name}_${m}.json"
      python3 scripts/reference/hf_ppl.py --model "$x" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp16 \
        --json "$out/hfppl_${name}_${m}.json" > /dev/null && summary+=("hf export $m: $(python3 -c "import json;r=json.load(open('$out/hfppl_${name}_${m}.json'));print(' '.join(f'{k}={v[\"ppl\"]:.3f}' for k,v in r['ppl'].items()))")");;
    zeroshot:*)  # zeroshot:fp16 = the model itself; zeroshot:M = the packed output of an earlier pack:M
      m=${step#zeroshot:}; q=$([ "$m" = fp16 ] && echo "$model" || echo /tmp/q_${name}_${m})
      log "zero-shot $name $m"
      $bin eval --model "$q" --data-dir "$data" --tasks all --dtype fp16 --json "$out/zs_${name}_${m}.json" --log-level warn;;
    zsref)  # per-request log-likelihoods vs transformers (fp32), first 100 requests of every task
      log "zero-shot reference $name"
      $bin eval --model "$model" --data-dir "$data" --tasks all --limit 100 --dtype fp32 --dump-requests /tmp/zs_req_${name}.jsonl \
        --json "$out/zsref_ob1q_${name}.json" --log-level warn
      python3 scripts/reference/hf_zeroshot.py --model "$model" --requests /tmp/zs_req_${name}.jsonl --per-task 100 \
        --json "$out/zsref_hf_${name}.json";;
    kernels)  # the CUDA kernels against the CPU reference, and the packed runtime tests
      log "packed kernels and runtime tests"
      OB1Q_SHARED=/nonexistent build-gpu/tests/test_torch --gtest_filter='PackedKernels*:*PackedLayouts*:PackedRuntime*:FusedOps*' \
        > "$out/kernels.log" 2>&1; grep -E '^\[  (PASSED|FAILED|SKIPPED) |Failure|Expected|actual' "$out/kernels.log" | head -40
      summary+=("kernels: $(grep -E '^\[  PASSED' "$out/kernels.log" | head -1) $(grep -c '^\[  FAILED  \] [A-Z]' "$out/kernels.log") failed");;
    runtime:*)  # packed path vs dense path of the same packed checkpoint: perplexity and greedy tokens
      m=${step#runtime:}; q=/tmp/q_${name}_${m}
      [ -f "$q/ob1q_manifest.json" ] || $bin quantize --model "$model" --data-dir "$data" --method "$m" --out "$q" --overwrite \
        --json "$out/quant_${name}_${m}.json" --log-level warn
      for w in packed dense; do
        log "eval $name $m --weights $w"
        $bin eval --model "$q" --data-dir "$data" --ppl wikitext2,ptb,c4 --dtype fp16 --weights $w \
          --json "$out/eval_${name}_${m}_${w}.json" --log-level warn
        $bin generate --model "$q" --prompt "The meaning of life is" --max-new-tokens 64 --dtype fp16 --weights $w \
          --record-margins --json "$out/gen_${name}_${m}_${w}.json" --log-level warn > /dev/null
      done
      summary+=("runtime $m: $(python3 - "$out" "$name" "$m" <<'PY'
import json, sys
out, name, m = sys.argv[1:]
e = {w: json.load(open(f"{out}/eval_{name}_{m}_{w}.json"))["ppl"] for w in ("packed", "dense")}
g = {w: json.load(open(f"{out}/gen_{name}_{m}_{w}.json")) for w in ("packed", "dense")}
s = " ".join(f"{d}={e['packed'][d]['ppl']:.4f}/{e['dense'][d]['ppl']:.4f} ({100 * (e['packed'][d]['ppl'] / e['dense'][d]['ppl'] - 1):+.4f}%)" for d in e["packed"])
a, b = g["packed"]["token_ids"], g["dense"]["token_ids"]
div = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), None)
if div is None and a == b:
    s += " | greedy 64: identical"
else:
    mp, md = g["packed"]["logit_margins"], g["dense"]["logit_margins"]
    s += f" | greedy 64: first divergence at token {div}, top-2 logit gap there {mp[div]:.4g} (packed) / {md[div]:.4g} (dense)"
s += f" | decode {g['packed']['decode_tokens_per_s']:.0f} vs {g['dense']['decode_tokens_per_s']:.0f} tok/s"
print(s)
PY
)");;
    genbench:*)
      log "generation bench ${step#genbench:}"; scripts/bench_generate.sh "${step#genbench:}" "$bin" "$out" | tee "$out/genbench_${step#genbench:}.txt";;
    scaling:*)
      log "scaling ${step#scaling:}"; scripts/bench_quant_scaling.sh "$data" "$data/tokenizers/llama2" "${step#scaling:}" 2 "$bin" && cp results/bench_quant_scaling_*.json "$out/";;
  esac
done
log done
printf '%s\n' "${summary[@]}"
python3 - "$out" "$name" <<'PY'
import json, os, sys, glob
out, name = sys.argv[1], sys.argv[2]
for f in sorted(glob.glob(f"{out}/eval_{name}_*.json")):
    r = json.load(open(f)); tag = os.path.basename(f)[5:-5]
    q = f"{out}/quant_{tag}.json"
    qt = json.load(open(q)) if os.path.exists(q) else {}
    p = r["ppl"]
    print(f"{tag:<26}" + "".join(f"{d}={p[d]['ppl']:.3f} " for d in ("wikitext2", "ptb", "c4") if d in p)
          + (f" quant {qt['seconds']:.1f}s peak {qt['peak_device_memory_bytes']/2**30:.2f}GiB bits {qt['bits_per_weight']:.3f}" if qt else "")
          + "  sha " + " ".join(p[d]["ids_sha256"][:8] for d in p))
PY
