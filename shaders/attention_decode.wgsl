// Decode attention (one query token at position pos0 over cache rows 0..pos0), flash-decoding
// style, and the merge of its splits. Matches backends/cpu/ops.py: attention(q, k, v, n_kv,
// offset=pos0) for T = 1 (docs/reference.md §1, §5 item 7).
//
// Why this shape (the previous decode kernel was a chain of ~20 barriers and tree reductions per
// workgroup; on an H100 each step of such a chain costs latency, not bandwidth, docs/perf.md):
// - attn_decode: per (query head, split) a team of WGH = 32 threads (one warp on NVIDIA; more
//   only when value_dim > 128); no subgroup operations, so one path serves every device. A
//   workgroup holds HPW teams, query heads that share a kv head (host-chosen: 1 gives the most
//   workgroups; G lets the group's heads read each K / V row through L1 instead of L2 each).
//   Scores: KT = 8 threads per K row, each summing every KT-th vec4 of q·k, so one load of the
//   workgroup reads 4 whole 128-byte row pieces (a thread per row would touch 32 cache lines per
//   load); q comes from workgroup memory, where the prologue (two barriers) put it (the same
//   few addresses in all threads: broadcast). The partial dots meet in workgroup memory (one
//   barrier), a thread per position adds them (a second barrier), and then EVERY thread
//   recomputes the block's max, the exps and their sum itself from the SPLIT scores (broadcast
//   reads, the same values in all threads): redundant arithmetic instead of tree reductions.
//   Thread c owns vec4 column c of value_dim and accumulates e_p · V[p][c] (coalesced V rows).
//   All per-block loops run a constant count (SPLIT-based; positions past the context reread
//   the last row with weight 0), so the compiler can unroll them and keep all loads in flight.
// - A split covers `bpw` blocks of SPLIT positions with an online softmax (running max, rescaled
//   sum) so that the number of splits stays <= NS at any context: ceil(len / SPLIT) blocks, at
//   most NS splits (host: NS = min(ceil(CTX / SPLIT), splits cap)), bpw = ceil(blocks / NS).
//   Short contexts get one block per split (most workgroups), long ones a bounded merge.
// - attn_merge: one workgroup per query head; thread (c, r) owns vec4 column c and the splits
//   r, r + MR, ... (an online merge: no reduction over threads), one barrier, and row r = 0
//   combines the MR partial results. One barrier in all, instead of two trees.
//
// - FUSED (decode steps of the forward): attn_decode also does qk_norm_rope_kv.wgsl's work for
//   the step's token, so no dispatch of its own runs before it (each dependent dispatch costs
//   >= 2 us on an H100). Every workgroup builds its heads' q rows from the raw projection output
//   (per-head RMSNorm, NEOX RoPE at pos0: the same formulas and rope table as
//   qk_norm_rope_kv.wgsl) into workgroup memory; the workgroups of the last split (the one
//   holding pos0) also build the new k row (normed, roped) and v row and use them for position
//   pos0 instead of the cache row, and the one of them whose last head ends a kv group
//   writes both into the caches at pos0. Nobody reads cache row pos0 in this dispatch, so the
//   write races with nothing; later dispatches see it. Not FUSED: q is read as given (bound
//   at qs) and every position comes from the caches (the kernel alone, for tests and benches).
//
// Partials layout in `part` (NH*NS*(VD+2) floats, the size attention_scratch_floats gives), seen
// as vec2 so that every write is a whole element (no two workgroups share a stored element):
//   acc section: vec2 index ((h * NS + s) * VD + d) / 2   unnormalised Σ_p e^(score_p - m) v_p[d]
//   ml section:  vec2 index NH * NS * VD / 2 + h * NS + s = (m, l): the split's max score and
//                Σ_p e^(score_p - m).
// attn_decode bindings: 0 qs, 1 ks, 2 vs (read: the step's raw q / k / v at Q_OFF / K_OFF /
//   V_OFF, so one fused qkv matvec output can be bound three times; not FUSED: qs = q (NH*HD)
//   and 1 to 4 unused), 3 qkn (2*HD: attn_q_norm then attn_k_norm), 4 rope (CTX*HD/2 (cos, sin)
//   pairs), 5 kc (CTX*NKV*HD, rw), 6 vc (CTX*NKV*VD, rw), 7 part (rw), 8 step (uniform).
//   Dispatch: (NH / HPW, 1, n_splits(pos0 + 1)).
// attn_merge bindings: 0 part (read), 1 out (NH*VD, rw), 2 step.   Dispatch: (NH, 1, 1).
// Planted faults: GQA_SHIFT (gqa_off_by_one): query head h reads kv head (h / G + 1) % NKV (in
// FUSED, that head's new k / v row too, and the workgroup writes the row it built, so each kv
// head is still written once); SKIP_NORM (skip_qk_norm): q and k not normalised; KV_F16
// (kv_f16): K / V rounded to f16 precision when stored, and the new rows used as stored.

override NH: u32;
override NKV: u32;
override HD: u32;          // multiple of 4
override VD: u32;          // multiple of 4, VD / 4 <= WGH
override NS: u32;          // most splits per head (the partials buffer holds NH * NS)
override SPLIT: u32 = 32u;    // positions per block (three barriers each)
override SCALE: f32;       // 1/sqrt(HD), rounded to f32 on the host like the CPU
override GQA_SHIFT: bool = false;
override WGH: u32 = 32u;   // attn_decode threads per query head: VD / 4 rounded up to 32
override HPW: u32 = 1u;    // attn_decode query heads per workgroup (divides NH / NKV)
override WG: u32 = 32u;    // attn_decode threads: HPW * WGH
override MR: u32 = 8u;     // attn_merge rows of splits; its workgroup is MR * VD / 4 threads
override MWG: u32 = 256u;  // = MR * VD / 4 (host), <= 256
override KT: u32 = 8u;     // threads per K row in the score phase (WGH % KT == 0)
override SPN: u32 = 2304u; // sp's length: max(HPW * SPLIT * (KT + 1), 2 * WG) (host)
override FUSED: bool = false;
override EPS: f32 = 0.0;
override Q_OFF: u32 = 0u;
override K_OFF: u32 = 0u;
override V_OFF: u32 = 0u;
override SKIP_NORM: bool = false;
override KV_F16: bool = false;
const NEG_BIG: f32 = -3.402823e38;   // the running max before any score (exp(NEG_BIG - m) = 0)

@group(0) @binding(0) var<storage, read> qs: array<f32>;
@group(0) @binding(1) var<storage, read> ks: array<f32>;
@group(0) @binding(2) var<storage, read> vs: array<f32>;
@group(0) @binding(3) var<storage, read> qkn: array<f32>;
@group(0) @binding(4) var<storage, read> rope: array<f32>;
@group(0) @binding(5) var<storage, read_write> kc: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> vc: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> part: array<vec2<f32>>;
@group(0) @binding(8) var<uniform> step: Step;

// [head][p][KT partial dots] (+1: banks); first the prologue's sums of squares (2 * WG)
var<workgroup> sp: array<f32, SPN>;
var<workgroup> sc: array<f32, HPW * SPLIT>;   // [head][p] the block's scores
var<workgroup> qw: array<vec4<f32>, HPW * HD / 4u>;   // the teams' q rows (normed, roped)
var<workgroup> kw: array<vec4<f32>, HD / 4u>;  // FUSED, last split: pos0's k row as stored
var<workgroup> vw: array<vec4<f32>, VD / 4u>;  // and its v row
var<workgroup> mm: array<f32, MWG>;         // attn_merge: per thread m, l and acc of its splits
var<workgroup> ml: array<f32, MWG>;
var<workgroup> ma: array<vec4<f32>, MWG>;

// Blocks of SPLIT positions per split for a context of len positions (host: attention.decode_splits).
fn blocks_per_split(len: u32) -> u32 {
    let blocks = (len + SPLIT - 1u) / SPLIT;
    return (blocks + NS - 1u) / NS;
}

fn n_splits(len: u32) -> u32 {
    let span = blocks_per_split(len) * SPLIT;
    return (len + span - 1u) / span;
}

fn ml_index(h: u32, s: u32) -> u32 {
    return NH * NS * VD / 2u + h * NS + s;
}

fn kv_store(x: f32) -> f32 {
    if (KV_F16) { return round_f16(x); }
    return x;
}

// Sum of squares of this thread's elements lt, lt + WGH, ... of the HD-vector at src[b].
fn sum_sq_q(b: u32, lt: u32) -> f32 {
    var ss = 0.0;
    for (var i = lt; i < HD; i += WGH) { let x = qs[b + i]; ss += x * x; }
    return ss;
}

fn sum_sq_k(b: u32, lt: u32) -> f32 {
    var ss = 0.0;
    for (var i = lt; i < HD; i += WGH) { let x = ks[b + i]; ss += x * x; }
    return ss;
}

// 1 / rms of a team's row from its WGH partial sums at sp[b..]: the same values, in the same
// order, in every thread that asks (qk_norm_rope_kv.wgsl: 1 / sqrt(mean + EPS)).
fn inv_rms(b: u32) -> f32 {
    var ss = 0.0;
    for (var j = 0u; j < WGH; j++) { ss += sp[b + j]; }
    return 1.0 / sqrt(ss / f32(HD) + EPS);
}

// The rotated pair (element i, element i + HD/2) of a normed row: NEOX RoPE at position pos.
fn rope_pair(lo: f32, hi: f32, pos: u32, i: u32) -> vec2<f32> {
    let r = (pos * (HD / 2u) + i) * 2u;
    let cs = rope[r];
    let sn = rope[r + 1u];
    return vec2<f32>(lo * cs - hi * sn, hi * cs + lo * sn);
}

// The prologue: q rows of the workgroup's heads into qw; in FUSED workgroups of the last split
// (`fresh`) also pos0's k and v rows into kw / vw, written to the caches when `writer`.
// Two barriers; every thread of the workgroup must call it.
fn prologue(team: u32, lt: u32, tid: u32, h: u32, kvh: u32, fresh: bool, writer: bool) {
    let qb = Q_OFF + h * HD;
    let kb = K_OFF + kvh * HD;
    if (FUSED) { sp[tid] = sum_sq_q(qb, lt); }
    if (fresh) { sp[WG + tid] = sum_sq_k(kb, lt); }   // each team the same sums
    workgroupBarrier();
    let half = HD / 2u;
    let pos = step.pos0;
    let qn = team * HD;
    if (FUSED) {
        let iq = inv_rms(team * WGH);
        for (var i = lt; i < half; i += WGH) {
            var lo = qs[qb + i];
            var hi = qs[qb + i + half];
            if (!SKIP_NORM) { lo = lo * iq * qkn[i]; hi = hi * iq * qkn[i + half]; }
            let r = rope_pair(lo, hi, pos, i);
            qw[(qn + i) / 4u][i % 4u] = r.x;
            qw[(qn + i + half) / 4u][(i + half) % 4u] = r.y;
        }
    } else {
        for (var i = lt; i < HD; i += WGH) { qw[(qn + i) / 4u][i % 4u] = qs[qb + i]; }
    }
    if (fresh) {
        let ik = inv_rms(WG + team * WGH);
        let cb = (pos * NKV + kvh) * HD;
        for (var i = tid; i < half; i += WG) {
            var lo = ks[kb + i];
            var hi = ks[kb + i + half];
            if (!SKIP_NORM) { lo = lo * ik * qkn[HD + i]; hi = hi * ik * qkn[HD + i + half]; }
            let r = rope_pair(lo, hi, pos, i);
            let a = kv_store(r.x);
            let b = kv_store(r.y);
            kw[i / 4u][i % 4u] = a;
            kw[(i + half) / 4u][(i + half) % 4u] = b;
            if (writer) {
                kc[(cb + i) / 4u][i % 4u] = a;
                kc[(cb + i + half) / 4u][(i + half) % 4u] = b;
            }
        }
        let vb = V_OFF + kvh * VD;
        let vcb = (pos * NKV + kvh) * (VD / 4u);
        for (var c = tid; c < VD / 4u; c += WG) {
            let v = vec4<f32>(kv_store(vs[vb + 4u * c]), kv_store(vs[vb + 4u * c + 1u]),
                              kv_store(vs[vb + 4u * c + 2u]), kv_store(vs[vb + 4u * c + 3u]));
            vw[c] = v;
            if (writer) { vc[vcb + c] = v; }
        }
    }
    workgroupBarrier();
}

// Partial q·k of position `row`, kv head kvh: vec4 columns i, i + KT, ... of the row (the KT
// threads of a row read it as one contiguous 128-byte run per load), unscaled. FUSED: pos0's
// row comes from kw (built by this workgroup), never from the cache.
fn score_part(team: u32, kvh: u32, row: u32, i: u32) -> f32 {
    let qb = team * (HD / 4u);
    var d = vec4<f32>(0.0);
    if (FUSED && row == step.pos0) {
        for (var j0 = 0u; j0 < HD / 4u; j0 += KT) {
            let j = j0 + i;
            if (j < HD / 4u) { d += qw[qb + j] * kw[j]; }
        }
    } else {
        let kb = (row * NKV + kvh) * (HD / 4u);
        for (var j0 = 0u; j0 < HD / 4u; j0 += KT) {   // a constant count, as the loops below
            let j = j0 + i;
            if (j < HD / 4u) { d += qw[qb + j] * kc[kb + j]; }
        }
    }
    return d.x + d.y + d.z + d.w;
}

// Value column c of position `row` (FUSED: pos0's from vw).
fn v_col(kvh: u32, row: u32, c: u32) -> vec4<f32> {
    if (FUSED && row == step.pos0) { return vw[c]; }
    return vc[(row * NKV + kvh) * (VD / 4u) + c];
}

@compute @workgroup_size(WG)
fn attn_decode(@builtin(workgroup_id) wid: vec3<u32>,
               @builtin(local_invocation_index) tid: u32) {
    let team = tid / WGH;                  // this thread's query head in the workgroup
    let lt = tid % WGH;                    // and its thread in that head's team
    let h = wid.x * HPW + team;
    let s = wid.z;
    let G = NH / NKV;
    var kvh = h / G;                       // the same for all HPW heads (HPW divides G)
    if (GQA_SHIFT) { kvh = (kvh + 1u) % NKV; }
    let len = step.pos0 + 1u;
    let span = blocks_per_split(len) * SPLIT;
    let start = s * span;
    if (start >= len) { return; }          // uniform per workgroup
    let end = min(start + span, len);
    let fresh = FUSED && end == len;       // this split holds pos0 (uniform per workgroup)
    // the writer: the workgroup holding the group's LAST head (its launch comes after the others',
    // so a wrong read of cache row pos0 by them meets the old contents in in-order tests)
    prologue(team, lt, tid, h, kvh, fresh, fresh && ((wid.x + 1u) * HPW) % G == 0u);
    let c = min(lt, VD / 4u - 1u);         // this thread's vec4 column of value_dim (threads
                                           // past VD / 4, if any, repeat the last one unstored)
    let spb = team * SPLIT * (KT + 1u);    // the team's rows of sp and sc
    let scb = team * SPLIT;
    let rpp = WGH / KT;                    // K rows per pass of a team
    var m = NEG_BIG;
    var l = 0.0;
    var acc = vec4<f32>(0.0);
    for (var b0 = start; b0 < end; b0 += SPLIT) {
        // constant counts (header): positions past `last` reread it and score NEG_BIG
        let last = min(b0 + SPLIT, end) - b0 - 1u;
        for (var p0 = 0u; p0 < SPLIT; p0 += rpp) {
            let p = p0 + lt / KT;
            if (p < SPLIT) {
                sp[spb + p * (KT + 1u) + lt % KT] = score_part(team, kvh, b0 + min(p, last), lt % KT);
            }
        }
        workgroupBarrier();
        for (var p = lt; p < SPLIT; p += WGH) {
            var d = 0.0;
            for (var j = 0u; j < KT; j++) { d += sp[spb + p * (KT + 1u) + j]; }
            sc[scb + p] = select(d * SCALE, NEG_BIG, p > last);
        }
        workgroupBarrier();
        var bm = m;                        // every thread: the same max over the same values
        for (var p = 0u; p < SPLIT; p++) { bm = max(bm, sc[scb + p]); }
        let r = exp(m - bm);               // rescale what earlier blocks summed (0 at first)
        l *= r;
        acc *= r;
        for (var p = 0u; p < SPLIT; p++) {
            let e = exp(sc[scb + p] - bm);
            l += e;
            acc += e * v_col(kvh, b0 + min(p, last), c);
        }
        m = bm;
        workgroupBarrier();                // all have read sc before the next block writes it
    }
    if (lt < VD / 4u) {
        let ab = ((h * NS + s) * VD) / 2u + 2u * c;
        part[ab] = acc.xy;
        part[ab + 1u] = acc.zw;
    }
    if (lt == 0u) { part[ml_index(h, s)] = vec2<f32>(m, l); }
}

// Merge: out[h] = Σ_s acc_s e^(m_s - M) / Σ_s l_s e^(m_s - M), M = max_s m_s.
@group(0) @binding(0) var<storage, read> mpart: array<vec2<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> mstep: Step;

@compute @workgroup_size(MWG)
fn attn_merge(@builtin(workgroup_id) wid: vec3<u32>,
              @builtin(local_invocation_index) tid: u32) {
    let h = wid.x;
    let C = VD / 4u;
    let c = tid % C;
    let r = tid / C;
    let ns = n_splits(mstep.pos0 + 1u);
    // One pass with a running max: a split's loads do not depend on the running state, so
    // they can all be in flight at once (two passes, max then sums, cost two load latencies).
    var mr = NEG_BIG;
    var lr = 0.0;
    var ar = vec4<f32>(0.0);
    for (var s = r; s < ns; s += MR) {
        let mls = mpart[ml_index(h, s)];
        let ab = ((h * NS + s) * VD) / 2u + 2u * c;
        let a = vec4<f32>(mpart[ab], mpart[ab + 1u]);
        let mx = max(mr, mls.x);
        let old = exp(mr - mx);            // 0 at the first split
        let w = exp(mls.x - mx);
        lr = lr * old + mls.y * w;
        ar = ar * old + a * w;
        mr = mx;
    }
    mm[tid] = mr;
    ml[tid] = lr;
    ma[tid] = ar;
    workgroupBarrier();
    if (r == 0u) {
        var big_m = NEG_BIG;
        for (var j = 0u; j < MR; j++) { big_m = max(big_m, mm[j * C + c]); }
        var big_l = 0.0;
        var a = vec4<f32>(0.0);
        for (var j = 0u; j < MR; j++) {    // rows without splits: l = 0, acc = 0, weight 0
            let w = exp(mm[j * C + c] - big_m);
            big_l += ml[j * C + c] * w;
            a += ma[j * C + c] * w;
        }
        out[h * C + c] = a / big_l;
    }
}
