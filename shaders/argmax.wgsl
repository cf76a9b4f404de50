// Greedy pick on the GPU: the arg-max of the last row of this step's logits (ties -> lowest index,
// as numpy.argmax), written to tok[0] (the next step's embedding input) and to
// hist[step.token_slot] (generated ids, read back once at the end of generate).
// Bindings: 0 logits (T*V), 1 tok (u32), 2 hist (u32), 3 step.   Dispatch: (1, 1, 1).

override WG: u32 = 256u;
override V: u32;

struct Step { pos0: u32, n_tok: u32, token_slot: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> tok: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;
@group(0) @binding(3) var<uniform> step: Step;

var<workgroup> bv: array<f32, WG>;
var<workgroup> bi: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
    let base = (step.n_tok - 1u) * V;
    var v = -3.402823e38;
    var b = 0xFFFFFFFFu;
    // WG: 1024 threads on GPUs (host: wide_wg): one workgroup reads all V logits, so the
    // chain of V / WG loads per thread is the cost (~0.2 ms on an H100 at 256 threads).
    for (var i = tid; i < V; i += WG) {
        let x = logits[base + i];
        if (x > v || b == 0xFFFFFFFFu) { v = x; b = i; }
    }
    bv[tid] = v;
    bi[tid] = b;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) {
            let ov = bv[tid + s];
            let oi = bi[tid + s];
            if (oi != 0xFFFFFFFFu && (ov > bv[tid] || (ov == bv[tid] && oi < bi[tid]))) {
                bv[tid] = ov;
                bi[tid] = oi;
            }
        }
        workgroupBarrier();
    }
    if (tid == 0u) { tok[0] = bi[0]; hist[step.token_slot] = bi[0]; }
}
