#!/usr/bin/env bash
# Matvec diagnostics on the lent GPU (docs/perf.md): real kernel vs no-decode vs no-x-load.
OUT=${OUT:-out}; mkdir -p "$OUT"
b() { python3 -m backends.wgpu.bench_matvec --random-blocks --seconds 0.3 "$@"; }
{
b --qtype Q4_K --rows 12288 --cols 2048 --shapes 32x4,64x2,128x2,64x4 --experiments 0,1,2
b --qtype Q4_K --rows 16384 --cols 768 --shapes 32x4,64x2,64x4 --experiments 0,1,2
b --qtype Q6_K --rows 151936 --cols 2048 --shapes 32x4,128x2,64x4 --experiments 0,1,2
} > "$OUT/mv-exp.jsonl"
python3 - "$OUT/mv-exp.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print(f"{d['qtype']} {d['rows']}x{d['cols']} {d['wg']}x{d['rows_per_wg']} sg={int(d['subgroup'])} "
          f"exp={d['experiment']} gpu {d['ms_gpu'] * 1e3:.1f} us {d['gb_per_s']:.0f} GB/s")
PY
