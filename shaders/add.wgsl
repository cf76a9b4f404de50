// Residual add of T rows: x[t] += a[t] (attn_output into the stream when the matvec has no
// accumulate epilogue).  Bindings: 0 a (T*N), 1 x (T*N, read_write), 2 step.
// Dispatch: (ceil(N/WG), T, 1).

override WG: u32 = 256u;
override N: u32;

struct Step { pos0: u32, n_tok: u32, token_slot: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let i = wid.x * WG + tid;
    if (wid.y >= step.n_tok || i >= N) { return; }
    x[wid.y * N + i] += a[wid.y * N + i];
}
