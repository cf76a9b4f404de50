// Causal grouped-query attention over the KV cache, flash-decoding style and GQA-aware
// (docs/reference.md §1, §5 item 7). Matches backends/cpu/ops.py: attention(q, k, v, n_kv, offset=pos0).
// Query t of this step sits at position step.pos0 + t and sees cache rows 0..pos0+t.
// The context is cut into splits of SPLIT positions (an override: short splits give decode more
// workgroups; prefill uses long ones to keep the scratch small). One workgroup per (kv head,
// token, split)
// serves the G = NH / NKV query heads that share the kv head, so each K and V row is read once
// per group: per head it writes the split's max score m, sum of exp l and the unnormalised
// sum acc[VD]; attention_reduce.wgsl merges the splits with the usual rescaling by exp(m_s - M).
// Decode steps (one token) use attention_decode.wgsl instead.
// Bindings: 0 q (T*NH*HD), 1 kc (CTX*NKV*HD), 2 vc (CTX*NKV*VD), 3 part (NH*TMAX*NS*(VD+2)),
//   4 step.   Dispatch: (NKV, T, ceil((pos0+T)/SPLIT)).
// Planted fault GQA_SHIFT (gqa_off_by_one): query head j uses kv head (j // G + 1) % NKV.

override WG: u32 = 64u;
override NH: u32;
override NKV: u32;
override HD: u32;
override VD: u32;
override NS: u32;          // splits allocated per (head, token) = ceil(CTX / SPLIT)
override TMAX: u32;        // tokens per step the scratch is sized for
override SCALE: f32;       // 1/sqrt(HD), rounded to f32 on the host like the CPU
override GQA_SHIFT: bool = false;
override SPLIT: u32 = 128u;   // positions per split, <= SPLIT_MAX

const SPLIT_MAX: u32 = 128u;
const QD: u32 = 4u;        // threads per K row in the score phase (WG % QD == 0)
const GMAX: u32 = 16u;     // query heads per kv head the workgroup arrays hold
const QMAX: u32 = 1024u;   // G * HD query floats in workgroup memory (all arrays: 16 KiB)

@group(0) @binding(0) var<storage, read> q: array<f32>;
// K and V rows as vec4s (HD, VD multiples of 4, checked on the host): one 16-byte load
// where 4 scalar ones were (the decode kernel reads each row once per query head).
@group(0) @binding(1) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> vc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;
@group(0) @binding(4) var<uniform> step: Step;

var<workgroup> qs: array<f32, QMAX>;
var<workgroup> sc: array<f32, 2048>;   // GMAX * SPLIT_MAX scores / exps: [g][p - start]
var<workgroup> red: array<f32, 1024>;  // GMAX * WG (WG <= 64): one reduction row per head

// Query head of group member g served by kv head kvh (inverse of h -> h / G, shifted by the fault).
fn q_head(kvh: u32, g: u32) -> u32 {
    let G = NH / NKV;
    if (GQA_SHIFT) { return ((kvh + NKV - 1u) % NKV) * G + g; }
    return kvh * G + g;
}

fn part_base(h: u32, t: u32, s: u32) -> u32 {
    return ((h * TMAX + t) * NS + s) * (VD + 2u);
}

// Tree reductions of the G rows red[g*WG + tid] at once (max or sum); the results land in
// red[g*WG]. Starts and ends with a barrier, so it also publishes earlier workgroup writes.
fn group_reduce(tid: u32, G: u32, is_max: bool) {
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) {
            for (var g = 0u; g < G; g++) {
                let a = red[g * WG + tid];
                let b = red[g * WG + tid + s];
                if (is_max) { red[g * WG + tid] = max(a, b); } else { red[g * WG + tid] = a + b; }
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(WG)
fn attn_partial(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(local_invocation_index) tid: u32) {
    let kvh = wid.x;
    let t = wid.y;
    let s = wid.z;
    let G = NH / NKV;
    let len = step.pos0 + t + 1u;          // causal: keys 0..pos0+t
    let start = s * SPLIT;
    if (t >= step.n_tok || start >= len) { return; }   // uniform per workgroup
    let n = min(start + SPLIT, len) - start;
    for (var i = tid; i < G * HD; i += WG) {
        qs[i] = q[(t * NH + q_head(kvh, i / HD)) * HD + i % HD];
    }
    workgroupBarrier();
    // Scores: QD threads per K row, each summing every QD-th dimension (adjacent threads read
    // adjacent floats), PP = WG / QD rows per pass; the QD partials meet in red. Short
    // dependent chains (HD / QD loads) and every thread busy: one thread per row with a
    // HD-long chain of loads was the slow part on an H100 (docs/perf.md).
    let PP = WG / QD;
    let pl = tid / QD;
    let qr = tid % QD;
    for (var p0 = 0u; p0 < n; p0 += PP) {
        let p = p0 + pl;
        var d: array<f32, GMAX>;
        // explicit zeroing: naga hoists loop-local vars, so the implicit zero happens only once
        for (var g = 0u; g < G; g++) { d[g] = 0.0; }
        if (p < n) {
            let kb = ((start + p) * NKV + kvh) * HD;
            for (var i = qr; i < HD; i += QD) {
                let kv = kc[(kb + i) / 4u][(kb + i) % 4u];
                for (var g = 0u; g < G; g++) { d[g] += qs[g * HD + i] * kv; }
            }
        }
        for (var g = 0u; g < G; g++) { red[(g * PP + pl) * QD + qr] = d[g]; }
        workgroupBarrier();
        for (var j = tid; j < G * PP; j += WG) {
            let pp = j % PP;
            if (p0 + pp < n) {
                var sum = 0.0;
                for (var r = 0u; r < QD; r++) { sum += red[j * QD + r]; }
                sc[(j / PP) * SPLIT + p0 + pp] = sum * SCALE;
            }
        }
        workgroupBarrier();
    }
    for (var g = 0u; g < G; g++) {         // per-head max over the split, all heads at once
        var mx = -3.402823e38;
        for (var p = tid; p < n; p += WG) { mx = max(mx, sc[g * SPLIT + p]); }
        red[g * WG + tid] = mx;
    }
    group_reduce(tid, G, true);
    var m: array<f32, GMAX>;
    for (var g = 0u; g < G; g++) { m[g] = red[g * WG]; }
    workgroupBarrier();                    // everyone has read the maxima before red is reused
    for (var g = 0u; g < G; g++) {
        var sum = 0.0;
        for (var p = tid; p < n; p += WG) {
            let e = exp(sc[g * SPLIT + p] - m[g]);
            sc[g * SPLIT + p] = e;
            sum += e;
        }
        red[g * WG + tid] = sum;
    }
    group_reduce(tid, G, false);           // its barriers also publish the exps in sc
    if (tid == 0u) {
        for (var g = 0u; g < G; g++) {
            let ob = part_base(q_head(kvh, g), t, s);
            part[ob] = m[g];
            part[ob + 1u] = red[g * WG];
        }
    }
    // Values: 4 dimensions per thread, the two halves of the workgroup take even / odd
    // positions (half the dependent chain), half 1 hands its sums to half 0 through red
    // (G * VD <= 1024 floats, checked on the host).
    workgroupBarrier();                    // tid 0 has read red[g * WG] above
    let HALF = WG / 2u;
    let hv = tid / HALF;
    for (var base = 0u; base < VD; base += 4u * HALF) {   // same trip count for every thread
        let d0 = base + 4u * (tid % HALF);
        var acc: array<vec4<f32>, GMAX>;
        for (var g = 0u; g < G; g++) { acc[g] = vec4<f32>(0.0); }   // see d[] above
        if (d0 < VD) {
            for (var p = hv; p < n; p += 2u) {
                let vb = ((start + p) * NKV + kvh) * VD + d0;
                let v = vc[vb / 4u];
                for (var g = 0u; g < G; g++) { acc[g] += sc[g * SPLIT + p] * v; }
            }
            if (hv == 1u) {
                for (var g = 0u; g < G; g++) {
                    for (var c = 0u; c < 4u; c++) { red[g * VD + d0 + c] = acc[g][c]; }
                }
            }
        }
        workgroupBarrier();
        if (d0 < VD && hv == 0u) {
            for (var g = 0u; g < G; g++) {
                let ob = part_base(q_head(kvh, g), t, s) + 2u + d0;
                for (var c = 0u; c < 4u; c++) { part[ob + c] = acc[g][c] + red[g * VD + d0 + c]; }
            }
        }
        workgroupBarrier();
    }
}
