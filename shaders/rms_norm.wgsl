// RMSNorm of T rows: y[t] = x[t] / sqrt(mean(x[t]^2) + EPS) * w            (docs/reference.md §1)
// Matches backends/cpu/ops.py: rms_norm(x, w, eps).
// Bindings: 0 x (T*N f32, read), 1 w (N f32), 2 y (T*N f32, write), 3 step (n_tok).
// Dispatch: (T, 1, 1), one workgroup per row.

override WG: u32 = 256u;
override N: u32;
override EPS: f32;

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

var<workgroup> part: array<f32, WG>;   // WG: a power of two (host: wide_wg)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    if (t >= step.n_tok) { return; }
    let base = t * N;
    var ss = 0.0;
    for (var i = tid; i < N; i += WG) { let v = x[base + i]; ss += v * v; }
    part[tid] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) { part[tid] += part[tid + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(part[0] / f32(N) + EPS);
    for (var i = tid; i < N; i += WG) { y[base + i] = x[base + i] * inv * w[i]; }
}
