// Per-head q/k RMSNorm over head_dim, then NEOX RoPE, then the KV-cache write (REFERENCE.md §1).
// Matches backends/cpu/ops.py: rms_norm (per head, weight shared by all heads) then rope_neox.
// Bindings: 0 q (T*NH*HD, rotated in place), 1 k (T*NKV*HD, read), 2 v (T*NKV*VD, read),
//   3 qn (HD), 4 kn (HD), 5 rope (CTX*HD/2*2 f32: cos,sin pairs built on the host in float64 and
//   rounded to f32, as the CPU does), 6 kc (CTX*NKV*HD cache), 7 vc (CTX*NKV*VD cache), 8 step.
// Dispatch: (NH + NKV, T, 1): workgroup x < NH is query head x, else kv head x - NH.
// Token t sits at absolute position step.pos0 + t.
// Planted faults (override flags): SKIP_NORM (skip_qk_norm), KV_F16 (kv_f16: cache values rounded
// to the nearest f16 mantissa; exponent range is not clamped, enough to change the output).

override WG: u32 = 64u;
override NH: u32;
override NKV: u32;
override HD: u32;
override VD: u32;
override EPS: f32;
override SKIP_NORM: bool = false;
override KV_F16: bool = false;

struct Step { pos0: u32, n_tok: u32, token_slot: u32, pad: u32 }

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read> k: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read> qn: array<f32>;
@group(0) @binding(4) var<storage, read> kn: array<f32>;
@group(0) @binding(5) var<storage, read> rope: array<f32>;
@group(0) @binding(6) var<storage, read_write> kc: array<f32>;
@group(0) @binding(7) var<storage, read_write> vc: array<f32>;
@group(0) @binding(8) var<uniform> step: Step;

var<workgroup> part: array<f32, 64>;
var<workgroup> head: array<f32, 512>;

// Round an f32 to f16 precision (10 mantissa bits, nearest-even) with integer ops only:
// unpack2x16float needs a capability some drivers lack (REFERENCE.md §5).
fn round_f16(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    let r = b + 0xFFFu + ((b >> 13u) & 1u);
    return bitcast<f32>(r & 0xFFFFE000u);
}

fn kv_store(x: f32) -> f32 {
    if (KV_F16) { return round_f16(x); }
    return x;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let t = wid.y;
    if (t >= step.n_tok) { return; }
    let pos = step.pos0 + t;
    let is_q = wid.x < NH;
    let kvh = wid.x - NH;   // only meaningful when !is_q
    var base: u32;
    if (is_q) { base = (t * NH + wid.x) * HD; } else { base = (t * NKV + kvh) * HD; }
    var ss = 0.0;
    for (var i = tid; i < HD; i += WG) {
        var x: f32;
        if (is_q) { x = q[base + i]; } else { x = k[base + i]; }
        head[i] = x;
        ss += x * x;
    }
    part[tid] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (tid < s) { part[tid] += part[tid + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / sqrt(part[0] / f32(HD) + EPS);
    for (var i = tid; i < HD; i += WG) {
        if (!SKIP_NORM) {
            if (is_q) { head[i] = head[i] * inv * qn[i]; } else { head[i] = head[i] * inv * kn[i]; }
        }
    }
    workgroupBarrier();
    let half = HD / 2u;
    for (var i = tid; i < half; i += WG) {
        let cs = rope[(pos * half + i) * 2u];
        let sn = rope[(pos * half + i) * 2u + 1u];
        let lo = head[i];
        let hi = head[i + half];
        let a = lo * cs - hi * sn;
        let b = hi * cs + lo * sn;
        if (is_q) {
            q[base + i] = a;
            q[base + i + half] = b;
        } else {
            let cb = (pos * NKV + kvh) * HD;
            kc[cb + i] = kv_store(a);
            kc[cb + i + half] = kv_store(b);
        }
    }
    if (!is_q) {
        let vb = (t * NKV + kvh) * VD;
        let cb = (pos * NKV + kvh) * VD;
        for (var i = tid; i < VD; i += WG) { vc[cb + i] = kv_store(v[vb + i]); }
    }
}
