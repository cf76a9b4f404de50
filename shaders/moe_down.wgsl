// MoE epilogue: the routing-weighted sum of the k expert outputs added to the residual stream,
// x[t] += Σ_j w[t,j] · d[t,j,:]   (REFERENCE.md §1). Matches backends/cpu/ops.py: moe_ffn + residual.
// d is the stacked-expert down-projection output (T*K rows of H). The sum runs in slot order j,
// like the CPU's loop over the selected experts.
// Bindings: 0 d (T*K*H), 1 w (T*K), 2 x (T*H, read_write), 3 step.   Dispatch: (ceil(H/WG), T, 1).

override WG: u32 = 256u;
override H: u32;
override K: u32;

struct Step { pos0: u32, n_tok: u32, token_slot: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let i = wid.x * WG + tid;
    let t = wid.y;
    if (t >= step.n_tok || i >= H) { return; }
    var acc = 0.0;
    for (var j = 0u; j < K; j++) { acc += w[t * K + j] * d[(t * K + j) * H + i]; }
    x[t * H + i] += acc;
}
