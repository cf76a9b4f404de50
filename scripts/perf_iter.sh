#!/usr/bin/env bash
# Quick GPU profiling round (docs/perf.md): a 30B-shaped model with fewer layers, bench with
# per-kernel profile. Usage (lent machine, after `source .gl/prelude.sh`):
#   bash scripts/perf_iter.sh LAYERS [PROMPT] [DECODE] [RUNS] [TAG]
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export HARNESS_CACHE_DIR=${HARNESS_CACHE_DIR:-/tmp/harness-cache} XDG_RUNTIME_DIR=/tmp
L=${1:-12}; P=${2:-128}; D=${3:-64}; R=${4:-3}; TAG=${5:-L$L}
f=/tmp/q30-L$L.gguf
[ "$L" = 48 ] && f=/tmp/q30.gguf
if [ ! -f "$f" ]; then
  s=$(date +%s)
  if [ "$L" = 48 ]; then lay=""; else lay="--layers $L"; fi
  python3 -m harness model synth --preset qwen3-30b-a3b --seed 20261126 $lay --out "$f" --workers 16 --format json > "$OUT/synth-$TAG.json" 2>&1
  echo "synth L=$L rc=$? $(( $(date +%s) - s )) s"
fi
s=$(date +%s)
timeout 400 python3 -m harness bench --backend wgpu --model "$f" --prompt-tokens $P --decode-tokens $D --runs $R --profile --format json > "$OUT/bench-$TAG.json" 2> "$OUT/bench-$TAG.err"
echo "bench $TAG rc=$? $(( $(date +%s) - s )) s"; tail -3 "$OUT/bench-$TAG.err"
python3 scripts/perf_summary.py "$OUT/bench-$TAG.json"
