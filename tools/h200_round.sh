#!/usr/bin/env bash
# One measurement round on the lent GPU machine, in one `run` call (device time is scarce and a
# machine idle for 30 s comes back bare). From the repository root, after the device prelude:
#
#     source .gl/prelude.sh && bash tools/h200_round.sh check [BASE_DIR]   # ~5-8 min
#     source .gl/prelude.sh && bash tools/h200_round.sh full               # ~8-10 min
#
# check: the GPU-relevant tests on the real adapter (the subgroup reductions run only there),
#        the tiny contract on cpu-reference + nvidia-vulkan, then the 12-layer 30B-shape file
#        benchmarked at BASE_DIR (an older tree copied beside this one, optional) and here,
#        interleaved, so the two builds share the machine's state.
# full:  the 48-layer 30B-shape file: decode tg128 / prefill pp512 (3 runs), pp4096, the
#        teacher-forced parity against the CPU reference, the CPU reference on 16 threads.
# Logs and JSON go to /tmp/round, packed at the end as $OUT/round-STAGE.tgz beside
# $OUT/summary-STAGE.txt after every step (at most 8 files come back from $OUT, and a call killed
# at its limit keeps what it packed); the summary is printed last.
# Each step has its own timeout and a failed step does not stop the next: the table says which.
set -uo pipefail
stage=${1:?usage: tools/h200_round.sh check [BASE_DIR] | full}
base=${2:-}
: "${OUT:?set OUT to the folder whose files come back}"
W=/tmp/round
rm -rf "$W" && mkdir -p "$W"
export HARNESS_CACHE_DIR=${HARNESS_CACHE_DIR:-/tmp/hc} XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
py=${PYTHON:-python3}
rows=()

step() { # step NAME TIMEOUT_S COMMAND...: run, log to $W/NAME.log, remember rc and seconds
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    timeout "$limit" "$@" >"$W/$name.log" 2>&1
    rc=$?
    rows+=("$(printf '%-22s rc=%-3s %4ss' "$name" "$rc" $((SECONDS - t0)))")
    pack
    return $rc
}

pack() { # the summary and the logs so far into $OUT: a call killed at its time limit keeps them
    {
        cat "$W/gpu.txt" "$W/commit.txt"
        printf '%s\n' "${rows[@]}"
        cat "$W/summary.txt" 2>/dev/null
    } >"$OUT/summary-$stage.txt"
    tar czf "$OUT/round-$stage.tgz" -C /tmp round
}

bench() { # bench NAME DIR MODEL PROMPT DECODE RUNS
    local name=$1 dir=$2 model=$3
    step "$name" 420 bash -c "cd '$dir' && $py -m harness bench --backend wgpu --model '$model' \
        --prompt-tokens $4 --decode-tokens $5 --runs $6 --profile --format json >'$W/$name.json'"
    $py tools/perf_summary.py "$W/$name.json" 2>/dev/null | head -1 | sed "s/^/$name: /" >>"$W/summary.txt"
}

cpusum() { # cpusum NAME: one line of the CPU bench's JSON (its log) into the summary
    $py -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d["cpu"]; p=d["llama_cpp"]
print(sys.argv[2]+": cpu decode %.2f prefill %.2f tok/s; llama.cpp %s; ratio %s" % (c["decode_tok_s"]["median"],
c["prefill_tok_s"]["median"], p if isinstance(p, str) else "decode %.2f prefill %.2f" % (p["decode_tok_s"]["median"],
p["prefill_tok_s"]["median"]), d.get("ratio_cpu_over_llama_cpp")))' "$W/$1.log" "$1" >>"$W/summary.txt" 2>&1
}

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv >"$W/gpu.txt" 2>&1
lscpu | grep -E "^Model name|^CPU\(s\)|^Thread" >>"$W/gpu.txt" 2>&1
git rev-parse HEAD >"$W/commit.txt" 2>/dev/null || echo "no git here" >"$W/commit.txt"
case $stage in
check)
    $py -m harness model synth --preset qwen3-30b-a3b --seed 20261126 --layers 12 --out /tmp/q12.gguf \
        --workers 16 -q >"$W/synth12.log" 2>&1 &
    synth=$!
    step tests 300 $py -m pytest -q -p no:cacheprovider -x tests/test_wgpu_matvec_tasks.py \
        tests/test_wgpu_matvec.py tests/test_wgpu_prefill.py tests/test_wgpu_gemm.py tests/test_wgpu_forward.py
    step contract 240 $py -m harness verify contracts/qwen3-moe-forward-gpu-v1.yaml \
        --device cpu-reference --device nvidia-vulkan --report "$W/tiny-report.json"
    wait $synth
    for round in 1 2; do
        [ -n "$base" ] && bench "base-L12-$round" "$base" /tmp/q12.gguf 512 128 2
        bench "head-L12-$round" . /tmp/q12.gguf 512 128 2
    done
    ;;
full)
    # CPU figures first (issue 15 names the GPU machine's 16 cores); the llama.cpp CPU peer runs
    # when llama_cpp is importable (PYTHONPATH=.peer: a copy of llama-cpp-python carried along).
    step synth48 300 $py -m harness model synth --preset qwen3-30b-a3b --seed 20261126 --out /tmp/q30.gguf \
        --workers 16 -q
    cpu=(env PYTHONPATH=.peer:. $py tools/bench_cpu_vs_llama.py)
    step cpu2-small 240 env NUMBA_NUM_THREADS=2 taskset -c 0,1 "${cpu[@]}" --threads 2 --preset small --seed 5 \
        --prompt-tokens 64 --decode-tokens 32 --runs 5
    cpusum cpu2-small
    step cpu16-30b 300 env NUMBA_NUM_THREADS=16 "${cpu[@]}" --threads 16 --model /tmp/q30.gguf --prompt-tokens 16 \
        --decode-tokens 8 --runs 2
    cpusum cpu16-30b
    bench tg128-pp512 . /tmp/q30.gguf 512 128 3
    step parity 300 env PYTHONPATH=. $py tools/parity_big.py /tmp/q30.gguf --out "$W/parity.json"
    bench pp4096 . /tmp/q30.gguf 4096 8 1
    ;;
*)
    echo "unknown stage $stage (check | full)" >&2
    exit 2
    ;;
esac
pack
cat "$OUT/summary-$stage.txt"
