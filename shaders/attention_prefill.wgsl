// Causal grouped-query attention of a prefill step, flash style (online softmax): no score
// matrix and no split partials in memory. Matches backends/cpu/ops.py: attention(q, k, v, n_kv,
// offset=pos0); query t of the step sits at position pos0 + t and sees cache rows 0..pos0+t.
// One workgroup per (kv head, tile of BQ tokens) serves RQ = G * BQ query rows (G = NH / NKV
// heads sharing the kv head; row r = head r % G of token r / G), so each K / V block staged in
// workgroup memory is used by all of them. Per block of BK cache rows: scores (one per thread),
// the rows' running max m and sum l updated with the rescale exp(m_old - m_new), then each
// thread's share of the rows' accumulators (4 value dims per vec4) rescaled and added to.
// Composed after common.wgsl (struct Step).
// Bindings: 0 q (T*NH*HD), 1 kc (CTX*NKV*HD), 2 vc (CTX*NKV*VD), 3 out (T*NH*VD), 4 step.
// Dispatch: (NKV, ceil(n_tok / BQ), 1).
// Planted fault GQA_SHIFT (gqa_off_by_one): query head j uses kv head (j // G + 1) % NKV.

override NH: u32;
override NKV: u32;
override HD: u32;          // multiple of 4
override VD: u32;          // multiple of 4, VD / 4 <= 16 * VQ_MAX
override BQ: u32;          // tokens per workgroup: G * BQ <= RQ
override SCALE: f32;       // 1/sqrt(HD), rounded to f32 on the host like the CPU
override GQA_SHIFT: bool = false;

const WG: u32 = 256u;
const RQ: u32 = 16u;       // query rows per workgroup
const BK: u32 = 16u;       // cache rows per block: RQ * BK = WG scores
const VQ_MAX: u32 = 8u;    // value vec4s per thread: VD <= 4 * 16 * VQ_MAX = 512
const NEG: f32 = -3.402823e38;

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> kc: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> vc: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> step: Step;

var<workgroup> qs: array<vec4<f32>, RQ * HD / 4u>;
var<workgroup> ks: array<vec4<f32>, BK * HD / 4u>;
var<workgroup> vs: array<vec4<f32>, BK * VD / 4u>;
var<workgroup> ps: array<f32, RQ * BK>;       // scores, then their exps
var<workgroup> rm: array<f32, RQ>;            // running max per row
var<workgroup> rl: array<f32, RQ>;            // running sum of exps per row
var<workgroup> ra: array<f32, RQ>;            // this block's rescale per row

fn q_head(kvh: u32, g: u32) -> u32 {
    let G = NH / NKV;
    if (GQA_SHIFT) { return ((kvh + NKV - 1u) % NKV) * G + g; }
    return kvh * G + g;
}

// Token of row r in this tile, or n_tok (no token) for rows past the tile.
fn row_token(tile: u32, r: u32) -> u32 {
    let G = NH / NKV;
    let t = tile * BQ + r / G;
    if (r >= G * BQ || t >= step.n_tok) { return step.n_tok; }
    return t;
}

@compute @workgroup_size(WG)
fn attn_prefill(@builtin(workgroup_id) wid: vec3<u32>,
                @builtin(local_invocation_index) tid: u32) {
    let kvh = wid.x;
    let tile = wid.y;
    let G = NH / NKV;
    let HD4 = HD / 4u;
    let VD4 = VD / 4u;
    let t_end = min(tile * BQ + BQ, step.n_tok);   // uniform per workgroup
    let n_keys = step.pos0 + t_end;                 // the tile's last token sees these rows
    for (var i = tid; i < RQ * HD4; i += WG) {
        let r = i / HD4;
        let t = row_token(tile, r);
        var v = vec4<f32>(0.0);
        if (t < step.n_tok) { v = q[(t * NH + q_head(kvh, r % G)) * HD4 + i % HD4]; }
        qs[i] = v;
    }
    if (tid < RQ) {
        rm[tid] = NEG;
        rl[tid] = 0.0;
    }
    // this thread's accumulators: row tid / 16, value vec4s tid % 16 + 16 i
    let ar = tid / 16u;
    var acc: array<vec4<f32>, VQ_MAX>;
    for (var i = 0u; i < VQ_MAX; i++) { acc[i] = vec4<f32>(0.0); }
    // score owned by this thread: row sr, cache row kb0 + sj
    let sr = tid / BK;
    let sj = tid % BK;
    let st = row_token(tile, sr);
    for (var kb0 = 0u; kb0 < n_keys; kb0 += BK) {
        workgroupBarrier();   // the previous block's ps / vs are consumed
        for (var i = tid; i < BK * HD4; i += WG) {
            let p = kb0 + i / HD4;
            var v = vec4<f32>(0.0);
            if (p < n_keys) { v = kc[(p * NKV + kvh) * HD4 + i % HD4]; }
            ks[i] = v;
        }
        for (var i = tid; i < BK * VD4; i += WG) {
            let p = kb0 + i / VD4;
            var v = vec4<f32>(0.0);
            if (p < n_keys) { v = vc[(p * NKV + kvh) * VD4 + i % VD4]; }
            vs[i] = v;
        }
        workgroupBarrier();
        var s = NEG;
        if (st < step.n_tok && kb0 + sj <= step.pos0 + st) {   // causal mask
            var d = 0.0;
            for (var c = 0u; c < HD4; c++) { d += dot(qs[sr * HD4 + c], ks[sj * HD4 + c]); }
            s = d * SCALE;
        }
        ps[tid] = s;
        workgroupBarrier();
        if (tid < RQ) {   // online softmax update of row tid
            let m_old = rm[tid];
            var mx = m_old;
            for (var j = 0u; j < BK; j++) { mx = max(mx, ps[tid * BK + j]); }
            var sum = 0.0;
            for (var j = 0u; j < BK; j++) {
                let sc = ps[tid * BK + j];
                let e = select(0.0, exp(sc - mx), sc > NEG);
                ps[tid * BK + j] = e;
                sum += e;
            }
            let alpha = exp(m_old - mx);
            ra[tid] = alpha;
            rl[tid] = rl[tid] * alpha + sum;
            rm[tid] = mx;
        }
        workgroupBarrier();
        let alpha = ra[ar];
        var i = 0u;
        for (var c = tid % 16u; c < VD4; c += 16u) {
            var a = acc[i] * alpha;
            for (var j = 0u; j < BK; j++) { a += ps[ar * BK + j] * vs[j * VD4 + c]; }
            acc[i] = a;
            i++;
        }
    }
    workgroupBarrier();
    let t = row_token(tile, ar);
    if (t < step.n_tok) {
        let inv = 1.0 / rl[ar];
        let ob = (t * NH + q_head(kvh, ar % G)) * VD4;
        var i = 0u;
        for (var c = tid % 16u; c < VD4; c += 16u) {
            out[ob + c] = acc[i] * inv;
            i++;
        }
    }
}
