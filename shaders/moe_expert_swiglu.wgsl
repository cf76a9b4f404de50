// SwiGLU of all selected experts of all tokens in one dispatch: a = silu(g) ⊙ u,
// silu(x) = x / (1 + e^-x).
// g and u are the stacked-expert matvec outputs (T*K rows of I, expert ids read from a GPU buffer
// by the matvec kernel). Matches the inner product of backends/cpu/ops.py: expert_swiglu.
// Bindings: 0 g (T*K*I), 1 u (T*K*I), 2 a (T*K*I, write), 3 step.
// Dispatch: (ceil(K*I / WG), T, 1).

override WG: u32 = 256u;
override KI: u32;       // K * I values per token

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let i = wid.x * WG + tid;
    if (wid.y >= step.n_tok || i >= KI) { return; }
    let o = wid.y * KI + i;
    let x = g[o];
    a[o] = x / (1.0 + exp(-x)) * u[o];
}
