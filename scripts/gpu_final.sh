#!/usr/bin/env bash
# Final figures on the lent GPU (docs/perf.md): full 30B-shape bench with profile, the heavy
# throughput/memory falsifiers, teacher-forced 30B parity vs the CPU reference, and the contract
# on tiny (cpu-reference + nvidia-vulkan). Usage (after `source .gl/prelude.sh`):
#   bash scripts/gpu_final.sh [bench] [heavy] [parity] [tiny]   (default: all)
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
export HARNESS_CACHE_DIR=${HARNESS_CACHE_DIR:-/tmp/harness-cache} XDG_RUNTIME_DIR=/tmp
steps=${*:-bench heavy parity tiny}
C=contracts/qwen3-moe-forward-gpu-v1.yaml
h() { python3 -m harness "$@"; }
if [ ! -f /tmp/q30.gguf ]; then
  s=$(date +%s); h model synth --preset qwen3-30b-a3b --seed 20261126 --out /tmp/q30.gguf --workers 16 --format json > /dev/null 2>> "$OUT/log.txt"
  echo "synth 30B rc=$? $(( $(date +%s) - s )) s"
fi
for st in $steps; do s=$(date +%s); case $st in
  bench)  timeout 200 python3 -m harness bench --backend wgpu --model /tmp/q30.gguf --prompt-tokens 512 --decode-tokens 128 --runs 3 --profile --format json > "$OUT/bench-30b.json" 2>> "$OUT/log.txt"
          echo "bench rc=$? $(( $(date +%s) - s )) s"; python3 scripts/perf_summary.py "$OUT/bench-30b.json" ;;
  heavy)  timeout 240 python3 -m harness verify $C --heavy --model /tmp/q30.gguf --device nvidia-vulkan --falsifier FALSIFY-QW3-MOE-GPU-THROUGHPUT-001 --falsifier FALSIFY-QW3-MOE-GPU-MEMORY-001 --report "$OUT/report-heavy.json" --format table > /dev/null 2> "$OUT/verify-heavy.txt"
          echo "heavy verify rc=$? $(( $(date +%s) - s )) s"; tail -12 "$OUT/verify-heavy.txt" ;;
  parity) timeout 300 env PYTHONPATH=.:${PYTHONPATH:-} python3 scripts/parity_big.py /tmp/q30.gguf --tokens 1,17,42 --prefill 2 --out "$OUT/parity-30b.json" > /dev/null 2>> "$OUT/log.txt"
          echo "parity 30B rc=$? $(( $(date +%s) - s )) s"; python3 -c "import json;d=json.load(open('$OUT/parity-30b.json'));print({k:d[k] for k in ('cosine','argmax_agreement','router_id_agreement','verdict','cpu_seconds')})" ;;
  tiny)   timeout 200 python3 -m harness verify $C --device cpu-reference --device nvidia-vulkan --report "$OUT/report-tiny.json" --format table > /dev/null 2> "$OUT/verify-tiny.txt"
          echo "tiny verify rc=$? $(( $(date +%s) - s )) s"; tail -25 "$OUT/verify-tiny.txt" ;;
esac; done
