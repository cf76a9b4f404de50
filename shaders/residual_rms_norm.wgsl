// Residual add fused with the next RMSNorm, one workgroup per token (docs/reference.md §1):
//   x[t] += Σ_{j<NSRC} w[t*NSRC + j] · src[t*NSRC + j]      (w = 1 when !USE_W)
//   y[t] = x[t] / sqrt(mean(x[t]^2) + EPS) * nw
// Used twice per layer: after attn_output (NSRC = 1: x += Wo·attn, then ffn_norm) and after the
// expert down projections
// (NSRC = k, USE_W: the routing-weighted sum in slot order, then the next layer's attn_norm or
// output_norm). Matches backends/cpu/ops.py: moe_ffn's sum + residual, then rms_norm.
// Bindings: 0 src (T*NSRC*N), 1 w (T*NSRC; ignored unless USE_W), 2 x (T*N, read_write),
//   3 nw (N), 4 y (T*N, write), 5 step.   Dispatch: (T, 1, 1).

override WG: u32 = 256u;
override N: u32;
override NSRC: u32 = 1u;
override USE_W: bool = false;
override EPS: f32;

// f32 rows as vec4s (N % 4 == 0, checked on the host): a thread's loads are 16 bytes each.
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> nw: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> step: Step;

var<workgroup> part: array<f32, WG>;   // WG: a power of two (host: wide_wg)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let t = wid.x;
    if (t >= step.n_tok) { return; }
    let n4 = N / 4u;
    var ss = 0.0;
    for (var i = tid; i < n4; i += WG) {
        var acc = vec4<f32>(0.0);
        for (var j = 0u; j < NSRC; j++) {
            let s = src[(t * NSRC + j) * n4 + i];
            if (USE_W) { acc += w[t * NSRC + j] * s; } else { acc += s; }
        }
        let v = x[t * n4 + i] + acc;
        x[t * n4 + i] = v;
        ss += dot(v, v);
    }
    part[tid] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) { part[tid] += part[tid + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(part[0] / f32(N) + EPS);
    for (var i = tid; i < n4; i += WG) {
        y[t * n4 + i] = x[t * n4 + i] * inv * nw[i];
    }
}
