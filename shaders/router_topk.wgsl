// Qwen3-MoE router top-k on the GPU: softmax over ALL experts of the router logits, stable top-k
// (ties go to the lower expert index), renormalise the k weights (docs/reference.md §1).
// Matches backends/cpu/ops.py: route(logits, K) -> (ids, weights, probs).
// The logits (Wr·h) come from the F32 matvec, which spreads the 128x2048 product over many
// workgroups: one workgroup computing Wr·h itself is a latency-bound chain (0.44 ms per layer on
// an H100, docs/perf.md steps 1 and 9).
// Bindings: 0 logits (T*E f32), 1 ids (T*K u32, true ids for the trace), 2 eids (T*K u32, ids
//   the expert kernels index with), 3 weights (T*K f32), 4 probs (T*E f32), 5 step.
// Dispatch: (T, 1, 1), one workgroup per token.
// Planted faults: RENORM=false (no_renormalise); SOFTMAX_FIRST=false (softmax_after_topk: rank by
// logits, softmax over the k selected logits, probs = those k values scattered into zeros);
// EXPERT_OFFSET=1 (expert_offset: the expert kernels read expert (id+1) mod E).

override WG: u32 = 256u;
override E: u32;
override K: u32;
override RENORM: bool = true;
override SOFTMAX_FIRST: bool = true;
override EXPERT_OFFSET: u32 = 0u;

const EMAX: u32 = 512u;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> eids: array<u32>;
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> probs: array<f32>;
@group(0) @binding(5) var<uniform> step: Step;

var<workgroup> lg: array<f32, EMAX>;     // logits, then probabilities
var<workgroup> lg4: array<vec4<f32>, 128>;   // lg as vec4s (EMAX / 4) for the rank loop
var<workgroup> rv: array<f32, 256>;
var<workgroup> sel: array<u32, 64>;

fn reduce_f32(val: f32, tid: u32, is_max: bool) -> f32 {
    rv[tid] = val;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) {
            if (is_max) { rv[tid] = max(rv[tid], rv[tid + s]); } else { rv[tid] += rv[tid + s]; }
        }
        workgroupBarrier();
    }
    let r = rv[0];
    workgroupBarrier();
    return r;
}

// (value, index) arg-max; a tie goes to the lower index, so the top-k is stable.
fn better(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    if (t >= step.n_tok) { return; }
    for (var e = tid; e < E; e += WG) { lg[e] = logits[t * E + e]; }
    workgroupBarrier();
    var mx = -3.402823e38;
    for (var e = tid; e < E; e += WG) { mx = max(mx, lg[e]); }
    let m = reduce_f32(mx, tid, true);
    if (SOFTMAX_FIRST) {
        var sum = 0.0;
        for (var e = tid; e < E; e += WG) { let x = exp(lg[e] - m); lg[e] = x; sum += x; }
        let z = reduce_f32(sum, tid, false);
        for (var e = tid; e < E; e += WG) { lg[e] = lg[e] / z; probs[t * E + e] = lg[e]; }
        workgroupBarrier();
    }
    // Top-k by rank: expert e's rank is the number of experts better than it (value, then the
    // lower index: a strict order, so ranks are distinct); ranks < K fill sel in order. One
    // pass and one barrier instead of K arg-max rounds of log2(WG) barriers each
    // (0.017 ms per layer on an H100 for those rounds, docs/perf.md).
    // the values again as vec4s (padded with a value no expert loses to): the rank loop reads
    // 4 per workgroup-memory load
    let e4 = (E + 3u) / 4u;
    for (var q = tid; q < e4; q += WG) {
        var c = vec4<f32>(-3.402823e38);
        for (var j = 0u; j < 4u; j++) { if (4u * q + j < E) { c[j] = lg[4u * q + j]; } }
        lg4[q] = c;
    }
    workgroupBarrier();
    for (var e = tid; e < E; e += WG) {
        let v = lg[e];
        var rank = 0u;
        for (var q = 0u; q < e4; q++) {
            let c = lg4[q];
            let o = 4u * q;
            rank += u32(better(c.x, o, v, e)) + u32(better(c.y, o + 1u, v, e))
                  + u32(better(c.z, o + 2u, v, e)) + u32(better(c.w, o + 3u, v, e));
        }
        if (rank < K) { sel[rank] = e; }
        if (!SOFTMAX_FIRST && rank >= K) { probs[t * E + e] = 0.0; }   // fault: no softmax
    }
    workgroupBarrier();
    // slot j = tid: every slot thread sums the K weights in slot order (the CPU's order), so no
    // thread waits on another's global writes (a serial tail in thread 0 cost ~3 µs on an H100)
    if (tid >= K) { return; }
    let top = lg[sel[0]];   // max of the selected logits (used by the softmax-after-top-k fault)
    var wsum = 0.0;
    var wj = 0.0;
    for (var i = 0u; i < K; i++) {
        var w = lg[sel[i]];
        if (!SOFTMAX_FIRST) { w = exp(w - top); }
        wsum += w;
        if (i == tid) { wj = w; }
    }
    let o = t * K + tid;
    if (!SOFTMAX_FIRST || RENORM) { wj = wj / wsum; }
    weights[o] = wj;
    ids[o] = sel[tid];
    eids[o] = (sel[tid] + EXPERT_OFFSET) % E;
    if (!SOFTMAX_FIRST) { probs[t * E + sel[tid]] = wj; }
}
