// Router logits of a decode step with the ffn RMSNorm folded in front (REFERENCE.md §1):
//   h = x / sqrt(mean(x^2) + EPS) * nw;   logits[e] = Wr[e] · h
// Every workgroup computes the norm of x itself (2048 floats from L2, the same order in every
// workgroup, so the same inv) and the dot of its expert row; workgroup 0 also writes h for the
// expert matvecs. This replaces a one-workgroup residual_rms_norm dispatch + the router matvec
// (the attention residual is added by the attn_output matvec, ACCUMULATE into x).
// Matches backends/cpu/ops.py: rms_norm then the router matvec (Wr @ h), in f32.
// Bindings: 0 x (H), 1 nw (H), 2 wr (E*H f32 rows, ffn_gate_inp), 3 logits (E), 4 h (H).
// Dispatch: (E, 1, 1), one workgroup per expert row; decode steps only (one token).

override WG: u32 = 128u;   // a power of two
override H: u32;
override EPS: f32;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> nw: array<f32>;
@group(0) @binding(2) var<storage, read> wr: array<f32>;
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;
@group(0) @binding(4) var<storage, read_write> h: array<f32>;

var<workgroup> red: array<f32, WG>;

// Sum of every thread's value (tree over the workgroup), returned to all threads.
fn total(tid: u32, v: f32) -> f32 {
    red[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) { red[tid] += red[tid + s]; }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let e = wid.x;
    var ss = 0.0;
    for (var i = tid; i < H; i += WG) { let v = x[i]; ss += v * v; }
    let inv = 1.0 / sqrt(total(tid, ss) / f32(H) + EPS);
    var d = 0.0;
    for (var i = tid; i < H; i += WG) {
        let hv = x[i] * inv * nw[i];
        d += wr[e * H + i] * hv;
        if (e == 0u) { h[i] = hv; }
    }
    let dot = total(tid, d);
    if (tid == 0u) { logits[e] = dot; }
}
