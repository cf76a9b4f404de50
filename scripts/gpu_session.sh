#!/usr/bin/env bash
# One batched session on a GPU machine (see docs/perf.md): wgpu tests, contract verify on the
# hardware cell, benches on small and on the 30B shape. Writes details under $OUT (or ./out).
# Usage (from the repo root, after `source .gl/prelude.sh` on the lent machine):
#   bash scripts/gpu_session.sh [tests|verify|bench|big]...   (default: all)
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export HARNESS_CACHE_DIR=${HARNESS_CACHE_DIR:-/tmp/harness-cache} XDG_RUNTIME_DIR=/tmp
steps=${*:-tests verify bench big}
h() { python3 -m harness "$@"; }
for s in $steps; do case $s in
  tests)  timeout 240 python3 -m pytest -q -x tests/test_wgpu_*.py -p no:cacheprovider > "$OUT/pytest-wgpu.txt" 2>&1
          echo "tests rc=$? $(tail -1 "$OUT/pytest-wgpu.txt")" ;;
  verify) h model synth --preset tiny --seed 20261126 --out /tmp/tiny.gguf --format json > "$OUT/tiny.json"
          h verify contracts/qwen3-moe-forward-gpu-v1.yaml --device cpu-reference --device nvidia-vulkan \
            --report "$OUT/report-nvidia.json" --junit "$OUT/junit-nvidia.xml" --format json > "$OUT/verify-nvidia.json" 2> "$OUT/verify-nvidia.txt"
          echo "verify rc=$?"; tail -4 "$OUT/verify-nvidia.txt" ;;
  bench)  h bench --backend wgpu --preset small --seed 20261126 --prompt-tokens 128 --decode-tokens 64 --runs 3 --format json > "$OUT/bench-small.json" 2>> "$OUT/log.txt"
          python3 -c "import json;d=json.load(open('$OUT/bench-small.json'));print('small', {k:v for k,v in d.items() if 'tok' in k})" ;;
  big)    start=$(date +%s)
          timeout 300 python3 -m harness model synth --preset qwen3-30b-a3b --seed 20261126 --out /tmp/q30.gguf --workers 16 --format json > "$OUT/q30.json" 2>&1
          echo "synth 30B rc=$? $(( $(date +%s) - start )) s"
          timeout 240 python3 -m harness bench --backend wgpu --model /tmp/q30.gguf --prompt-tokens 128 --decode-tokens 64 --runs 3 --format json > "$OUT/bench-30b.json" 2>> "$OUT/log.txt"
          echo "bench 30B rc=$?"; python3 -c "import json;d=json.load(open('$OUT/bench-30b.json'));print('30b', {k:v for k,v in d.items() if 'tok' in k or 'GB' in k})" ;;
esac; done
