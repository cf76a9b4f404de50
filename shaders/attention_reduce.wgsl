// Merge of the attention splits written by attn_partial (attention.wgsl): for one (head, token),
// M = max_s m_s, L = Σ_s l_s e^(m_s - M), out = Σ_s acc_s e^(m_s - M) / L.
// Bindings: 0 part (NH*TMAX*NS*(VD+2)), 1 out (T*NH*VD), 2 step.   Dispatch: (NH, T, 1).
// Matches backends/cpu/ops.py: attention (the softmax-weighted sum of v).

override WG: u32 = 64u;
override NH: u32;
override VD: u32;
override NS: u32;
override TMAX: u32;

override SPLIT: u32 = 128u;   // the attn_partial's SPLIT

fn part_base(h: u32, t: u32, s: u32) -> u32 {
    return ((h * TMAX + t) * NS + s) * (VD + 2u);
}

@group(0) @binding(0) var<storage, read> rpart: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> rstep: Step;

var<workgroup> red: array<f32, WG>;

// Tree over red[0..WG) (max or sum); the result is returned to every thread.
fn tree(tid: u32, is_max: bool) -> f32 {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) {
            if (is_max) { red[tid] = max(red[tid], red[tid + s]); } else { red[tid] += red[tid + s]; }
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_index) tid: u32) {
    let h = wid.x;
    let t = wid.y;
    if (t >= rstep.n_tok) { return; }
    let n_split = (rstep.pos0 + t + SPLIT) / SPLIT;   // ceil((pos0 + t + 1) / SPLIT)
    // M and L with the threads spread over the splits (a chain of n_split loads per thread
    // in every thread before: ~21 us per layer at 20 splits on an H100, docs/perf.md)
    var mx = -3.402823e38;
    for (var s = tid; s < n_split; s += WG) { mx = max(mx, rpart[part_base(h, t, s)]); }
    red[tid] = mx;
    let big_m = tree(tid, true);
    var l = 0.0;
    for (var s = tid; s < n_split; s += WG) {
        let b = part_base(h, t, s);
        l += rpart[b + 1u] * exp(rpart[b] - big_m);
    }
    red[tid] = l;
    let big_l = tree(tid, false);
    for (var d = tid; d < VD; d += WG) {
        var acc = 0.0;
        for (var s = 0u; s < n_split; s++) {
            let b = part_base(h, t, s);
            acc += rpart[b + 2u + d] * exp(rpart[b] - big_m);
        }
        out[(t * NH + h) * VD + d] = acc / big_l;
    }
}
