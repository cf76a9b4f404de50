// Causal grouped-query attention over the KV cache, flash-decoding style (REFERENCE.md §1, §5.7).
// Matches backends/cpu/ops.py: attention(q, k, v, n_kv, offset=pos0).
// Query t of this step sits at position step.pos0 + t and sees cache rows 0..pos0+t.
// The context is cut into splits of SPLIT positions; `attn_partial` computes, per (head, token,
// split), the split's max score m, sum of exp l and unnormalised sum acc[VD]; `attn_reduce`
// merges the splits of a (head, token) with the usual rescaling by exp(m_s - M).
// Bindings (attn_partial): 0 q (T*NH*HD), 1 kc (CTX*NKV*HD), 2 vc (CTX*NKV*VD),
//   3 part (NH*TMAX*NS*(VD+2) scratch), 4 step.   Dispatch: (NH, T, ceil((pos0+T)/SPLIT)).
// The merge is attention_reduce.wgsl.
// Planted fault GQA_SHIFT (gqa_off_by_one): query head j uses kv head (j // group + 1) % NKV.

override WG: u32 = 64u;
override NH: u32;
override NKV: u32;
override HD: u32;
override VD: u32;
override NS: u32;          // splits allocated per (head, token) = ceil(CTX / SPLIT)
override TMAX: u32;        // tokens per step the scratch is sized for
override SCALE: f32;       // 1/sqrt(HD), rounded to f32 on the host like the CPU
override GQA_SHIFT: bool = false;

const SPLIT: u32 = 256u;   // scores of one split live in workgroup memory

struct Step { pos0: u32, n_tok: u32, token_slot: u32, pad: u32 }

var<workgroup> qs: array<f32, 512>;
var<workgroup> sc: array<f32, SPLIT>;
var<workgroup> red: array<f32, 64>;

fn kv_head(h: u32) -> u32 {
    let g = h / (NH / NKV);
    if (GQA_SHIFT) { return (g + 1u) % NKV; }
    return g;
}

fn part_base(h: u32, t: u32, s: u32) -> u32 {
    return ((h * TMAX + t) * NS + s) * (VD + 2u);
}

// Tree reduction over the workgroup; op 0 = max, 1 = sum. Every thread gets the result.
fn wg_reduce(val: f32, tid: u32, op: u32) -> f32 {
    red[tid] = val;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) {
            if (op == 0u) { red[tid] = max(red[tid], red[tid + s]); }
            else { red[tid] = red[tid] + red[tid + s]; }
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kc: array<f32>;
@group(0) @binding(2) var<storage, read> vc: array<f32>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn attn_partial(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(local_invocation_index) tid: u32) {
    let h = wid.x;
    let t = wid.y;
    let s = wid.z;
    let len = step.pos0 + t + 1u;          // causal: keys 0..pos0+t
    let start = s * SPLIT;
    if (t >= step.n_tok || start >= len) { return; }   // uniform per workgroup
    let end = min(start + SPLIT, len);
    let kvh = kv_head(h);
    let qb = (t * NH + h) * HD;
    for (var i = tid; i < HD; i += WG) { qs[i] = q[qb + i]; }
    workgroupBarrier();
    var mx = -3.402823e38;
    for (var p = start + tid; p < end; p += WG) {
        let kb = (p * NKV + kvh) * HD;
        var d = 0.0;
        for (var i = 0u; i < HD; i++) { d += qs[i] * kc[kb + i]; }
        d = d * SCALE;
        sc[p - start] = d;
        mx = max(mx, d);
    }
    let m = wg_reduce(mx, tid, 0u);
    var sum = 0.0;
    for (var p = start + tid; p < end; p += WG) {
        let e = exp(sc[p - start] - m);
        sc[p - start] = e;
        sum += e;
    }
    let l = wg_reduce(sum, tid, 1u);      // its barriers also publish sc[]
    let ob = part_base(h, t, s);
    for (var d = tid; d < VD; d += WG) {
        var acc = 0.0;
        for (var p = start; p < end; p++) { acc += sc[p - start] * vc[(p * NKV + kvh) * VD + d]; }
        part[ob + 2u + d] = acc;
    }
    if (tid == 0u) { part[ob] = m; part[ob + 1u] = l; }
}
