#!/usr/bin/env bash
# Decode attention split experiment (docs/perf.md): bench the 30B file with ATTN_SPLIT_DECODE=$1.
OUT=${OUT:-out}; S=${1:-64}
python3 -c "
import sys
import backends.wgpu.kernel_ops as ko
ko.ATTN_SPLIT_DECODE = $S
from harness.cli import main
sys.exit(main(['bench', '--backend', 'wgpu', '--model', '/tmp/q30.gguf', '--prompt-tokens', '512',
               '--decode-tokens', '64', '--runs', '2', '--format', 'json']))
" > "$OUT/bench-30b-split$S.json" 2>> "$OUT/log.txt"
python3 scripts/perf_summary.py "$OUT/bench-30b-split$S.json"
