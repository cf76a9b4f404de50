// Greedy pick on the GPU: the arg-max of the last row of this step's logits (ties -> lowest index,
// as numpy.argmax), written to tok[0] (the next step's embedding input) and to
// hist[step.token_slot] (generated ids, read back once at the end of generate).
// Two dispatches: `partial` (one workgroup per WG * PER logits, coalesced, PER loads in flight
// per thread) writes each block's (max, index) to part; `pick` (one workgroup) picks among them.
// One workgroup scanning all 151936 logits was a chain of ~150 dependent loads per thread
// (62 µs on an H100).
// Bindings: 0 logits (T*V), 1 tok (u32), 2 hist (u32), 3 step, 4 part (2 u32 per block).
// Dispatch: partial (ceil(V / (WG * PER)), 1, 1), then pick (1, 1, 1).

override WG: u32 = 256u;
override V: u32;
override PER: u32 = 8u;    // logits per thread in `partial`
const NONE: u32 = 0xFFFFFFFFu;

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> tok: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<storage, read_write> part: array<u32>;

var<workgroup> bv: array<f32, WG>;
var<workgroup> bi: array<u32, WG>;

// (v, b) replaces the running best when larger, or the first candidate (b == NONE).
fn take(v: f32, b: u32, x: f32, i: u32) -> bool {
    return i != NONE && (b == NONE || x > v || (x == v && i < b));
}

// Tree over the workgroup's (bv, bi); the winner lands in slot 0.
fn tree(tid: u32) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s && take(bv[tid], bi[tid], bv[tid + s], bi[tid + s])) {
            bv[tid] = bv[tid + s];
            bi[tid] = bi[tid + s];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let base = (step.n_tok - 1u) * V;
    var v = -3.402823e38;
    var b = NONE;
    for (var j = 0u; j < PER; j++) {   // increasing indices per thread: the first max stays
        let i = (wid.x * PER + j) * WG + tid;
        if (i < V) {
            let x = logits[base + i];
            if (take(v, b, x, i)) { v = x; b = i; }
        }
    }
    bv[tid] = v;
    bi[tid] = b;
    tree(tid);
    if (tid == 0u) {
        part[2u * wid.x] = bitcast<u32>(bv[0]);
        part[2u * wid.x + 1u] = bi[0];
    }
}

@compute @workgroup_size(WG)
fn pick(@builtin(local_invocation_index) tid: u32) {
    let blocks = (V + WG * PER - 1u) / (WG * PER);
    var v = -3.402823e38;
    var b = NONE;
    for (var g = tid; g < blocks; g += WG) {
        let x = bitcast<f32>(part[2u * g]);
        let i = part[2u * g + 1u];
        if (take(v, b, x, i)) { v = x; b = i; }
    }
    bv[tid] = v;
    bi[tid] = b;
    tree(tid);
    if (tid == 0u) { tok[0] = bi[0]; hist[step.token_slot] = bi[0]; }
}
