// Per-head q/k RMSNorm over head_dim, then NEOX RoPE, then the KV-cache write (docs/reference.md §1).
// Matches backends/cpu/ops.py: rms_norm (per head, weight shared by all heads) then rope_neox.
// Bindings: 0 qs, 1 ks, 2 vs (read: token t's q / k / v at t*X_STRIDE + X_OFF, so one fused
//   qkv matvec output can be bound three times, or three separate buffers with offset 0),
//   3 qo (T*NH*HD, the rotated queries), 4 qkn (2*HD: attn_q_norm then attn_k_norm),
//   5 rope (CTX*HD/2*2 f32: cos,sin pairs built on the host in float64 and rounded to f32, as
//   the CPU does), 6 kc (CTX*NKV*HD cache), 7 vc (CTX*NKV*VD cache), 8 step.
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
override Q_OFF: u32 = 0u;
override K_OFF: u32 = 0u;
override V_OFF: u32 = 0u;
override Q_STRIDE: u32 = NH * HD;
override K_STRIDE: u32 = NKV * HD;
override V_STRIDE: u32 = NKV * VD;
override SKIP_NORM: bool = false;
override KV_F16: bool = false;

@group(0) @binding(0) var<storage, read> qs: array<f32>;
@group(0) @binding(1) var<storage, read> ks: array<f32>;
@group(0) @binding(2) var<storage, read> vs: array<f32>;
@group(0) @binding(3) var<storage, read_write> qo: array<f32>;
@group(0) @binding(4) var<storage, read> qkn: array<f32>;
@group(0) @binding(5) var<storage, read> rope: array<f32>;
@group(0) @binding(6) var<storage, read_write> kc: array<f32>;
@group(0) @binding(7) var<storage, read_write> vc: array<f32>;
@group(0) @binding(8) var<uniform> step: Step;

var<workgroup> part: array<f32, 64>;
var<workgroup> head: array<f32, 512>;

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
    var src: u32;
    if (is_q) { src = t * Q_STRIDE + Q_OFF + wid.x * HD; }
    else { src = t * K_STRIDE + K_OFF + kvh * HD; }
    var ss = 0.0;
    for (var i = tid; i < HD; i += WG) {
        var x: f32;
        if (is_q) { x = qs[src + i]; } else { x = ks[src + i]; }
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
            var wi = i;
            if (!is_q) { wi = HD + i; }
            head[i] = head[i] * inv * qkn[wi];
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
            let qb = (t * NH + wid.x) * HD;
            qo[qb + i] = a;
            qo[qb + i + half] = b;
        } else {
            let cb = (pos * NKV + kvh) * HD;
            kc[cb + i] = kv_store(a);
            kc[cb + i + half] = kv_store(b);
        }
    }
    if (!is_q) {
        let vb = t * V_STRIDE + V_OFF + kvh * VD;
        let cb = (pos * NKV + kvh) * VD;
        for (var i = tid; i < VD; i += WG) { vc[cb + i] = kv_store(vs[vb + i]); }
    }
}
