// mul_mat_q.wgsl: tiled dequant-GEMM  Y(T, rows) = X(T, cols) · W(rows, cols)^T, f32 accumulation.
// Composed as: common (struct Step) + mul_mat_q + mul_mat_vec_<qtype> (the family file supplies
// the weight binding 0, n_chunks(cols) and chunk(wrow, c): 16 values as a * q - b, mul_mat_vec.wgsl).
// CPU function it must match: backends.cpu.ops.matvec on every row of X (dequantize(W) @ x).
//
// Bindings (group 0): 0 W (u32 words, repacked blocks, backends.wgpu.weights)
//                     1 X (f32 inputs), 2 Y (f32 outputs), 3 MAP (u32, moe_group.wgsl's output;
//                     unused when dense), 4 P (GemmParams, uniform), 5 S (the Step uniform)
// Dispatch: x = ceil(rows / BM) row tiles, y = column tiles of BN slots:
//   dense    tile y covers tokens [y*BN, y*BN + BN) of the step's n_tok (S.n_tok); with
//            last_only, one tile holds just the last token (the head where only it is needed)
//   grouped  tile y is MAP's tile entry y (expert, j0, j1): sorted slots j0..j1 of one expert;
//            entries past MAP[0] (the tile count) exit at once. Slot j's input row is
//            MAP[gather + j] / x_group (x_group 0: row j); its output row MAP[gather + j]
//            (y_scatter 1: back to the (token, slot) pair order) or j.
// Each workgroup decodes its BM rows' weights once per K step of KC chunks (16 values each)
// into workgroup memory and reuses them for the tile's BN slots; each thread owns TM = 4 rows
// (one vec4) x TN slots of accumulators. One weight buffer holds one piece of a tensor (rows
// [y_offset, ..) of experts [e0, e1)): a tile whose expert is elsewhere writes nothing.

struct GemmParams {
    rows: u32,          // rows in this piece
    cols: u32,          // values per row (the inner dimension)
    row_words: u32,     // u32 words per repacked row
    expert_words: u32,  // words per expert in this piece (0 for 2-D tensors)
    x_stride: u32,      // floats between consecutive input rows
    y_stride: u32,      // floats between consecutive output rows
    y_offset: u32,      // output index of this piece's first row
    e0: u32,            // first expert held by this piece
    e1: u32,            // one past the last expert held
    grouped: u32,       // 1: tiles from MAP (grouped experts); 0: dense over S.n_tok tokens
    x_group: u32,       // grouped: input row = MAP[gather + j] / x_group (0: input row j)
    y_scatter: u32,     // grouped: 1: output row MAP[gather + j]; 0: output row j
    tiles: u32,         // word offset of MAP's tile list (3 words per tile)
    gather: u32,        // word offset of MAP's gather list (one pair index per sorted slot)
    last_only: u32,     // dense: 1: only the step's last token (one tile, grid y = 1)
    pad1: u32,
}

struct Chunk {
    q: array<vec4<f32>, 4>,
    a: f32,
    b: f32,
}

@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> MAP: array<u32>;
@group(0) @binding(4) var<uniform> P: GemmParams;
@group(0) @binding(5) var<uniform> S: Step;

override TX: u32 = 16u;        // threads along the slots of a tile
override TY: u32 = 16u;        // threads along the rows of a tile
const TM: u32 = 4u;            // rows per thread: one vec4 (SWIGLU pairs: (x, y), (z, w))
override TN: u32 = 4u;         // slots per thread: 4 or 8 (vec4s of slots)
override KC: u32 = 2u;         // 16-value chunks per K step
override SWIGLU: u32 = 0u;     // 1: rows interleave gate/up (2i, 2i+1); Y[.., i] = silu(gate)·up
override DROP_LAST: u32 = 0u;  // fault reduction_drops_last: the row's last chunk is dropped
const TN_MAX: u32 = 8u;

// [k][row] decoded weights of the step, a vec4 = a thread's TM = 4 consecutive rows
var<workgroup> Ws: array<vec4<f32>, KC * 4u * TY * TM>;
var<workgroup> Xs: array<vec4<f32>, KC * 4u * TX * TN>;   // [k][slot]: inputs, 4 slots a vec4
var<workgroup> tile: vec4<u32>;                      // (expert, j0, j1, live)

fn tile_of(y: u32) -> vec4<u32> {
    let bn = TX * TN;
    if (P.last_only != 0u) {
        return vec4<u32>(P.e0, S.n_tok - 1u, S.n_tok, u32(y == 0u && S.n_tok > 0u));
    }
    if (P.grouped == 0u) {
        let j0 = y * bn;
        return vec4<u32>(P.e0, j0, min(j0 + bn, S.n_tok), u32(j0 < S.n_tok));
    }
    if (y >= MAP[0]) {
        return vec4<u32>(0u);
    }
    let o = P.tiles + 3u * y;
    let e = MAP[o];
    return vec4<u32>(e, MAP[o + 1u], MAP[o + 2u], u32(e >= P.e0 && e < P.e1));
}

fn x_row(j: u32) -> u32 {
    if (P.grouped != 0u && P.x_group != 0u) {
        return MAP[P.gather + j] / P.x_group;
    }
    return j;
}

fn y_row(j: u32) -> u32 {
    if (P.grouped != 0u && P.y_scatter != 0u) {
        return MAP[P.gather + j];
    }
    return j;
}

fn silu(g: f32) -> f32 {
    return g / (1.0 + exp(-g));
}

@compute @workgroup_size(TX * TY)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if (lid == 0u) {
        tile = tile_of(wid.y);
    }
    let t = workgroupUniformLoad(&tile);
    let bm = TY * TM;
    let bn = TX * TN;
    let row0 = wid.x * bm;
    if (t.w == 0u || row0 >= P.rows) {
        return;
    }
    let wbase = (t.x - P.e0) * P.expert_words + row0 * P.row_words;
    let nch = n_chunks(P.cols);
    let ks = KC * 16u;
    let tx = lid % TX;
    let ty = lid / TX;
    let wg = TX * TY;
    var acc: array<vec4<f32>, TN_MAX>;   // acc[n]: the thread's 4 rows for slot n
    for (var kc0 = 0u; kc0 < nch; kc0 += KC) {
        // decode BM rows x KC chunks, once for the whole tile
        for (var d = lid; d < bm * KC; d += wg) {
            let m = d / KC;
            let gc = kc0 + d % KC;
            let kbase = (d % KC) * 16u;
            var ch: Chunk;
            if (row0 + m < P.rows && gc < nch && !(DROP_LAST != 0u && gc + 1u == nch)) {
                ch = chunk(wbase + m * P.row_words, gc);
            } else {
                ch.a = 0.0;
                ch.b = 0.0;
            }
            let q4 = bm / 4u;   // vec4s per k row of Ws
            for (var i = 0u; i < 4u; i++) {
                let v = ch.a * ch.q[i] - ch.b;
                let o = (kbase + 4u * i) * q4 + m / 4u;
                Ws[o][m % 4u] = v.x;
                Ws[o + q4][m % 4u] = v.y;
                Ws[o + 2u * q4][m % 4u] = v.z;
                Ws[o + 3u * q4][m % 4u] = v.w;
            }
        }
        // the tile's inputs for these columns (zeros past the row end or the tile)
        for (var i = lid; i < bn * ks; i += wg) {
            let n = i / ks;
            let kk = i % ks;
            let j = t.y + n;
            let col = kc0 * 16u + kk;
            var v = 0.0;
            if (j < t.z && col < P.cols) {
                v = X[x_row(j) * P.x_stride + col];
            }
            Xs[(kk * bn + n) / 4u][n % 4u] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < ks; kk++) {
            let a = Ws[kk * TY + ty];
            for (var v = 0u; v < TN / 4u; v++) {
                let b = Xs[(kk * bn + tx * TN) / 4u + v];
                acc[4u * v] += a * b.x;
                acc[4u * v + 1u] += a * b.y;
                acc[4u * v + 2u] += a * b.z;
                acc[4u * v + 3u] += a * b.w;
            }
        }
        workgroupBarrier();
    }
    for (var n = 0u; n < TN; n++) {
        let j = t.y + tx * TN + n;
        if (j >= t.z) { continue; }
        let ybase = y_row(j) * P.y_stride;
        let v = acc[n];
        for (var i = 0u; i < TM; i++) {
            let r = row0 + ty * TM + i;
            if (r >= P.rows) { continue; }
            if (SWIGLU != 0u) {   // local rows (2i', 2i'+1) are (gate, up) of output row r / 2
                if (i % 2u == 0u) {
                    Y[ybase + (P.y_offset + r) / 2u] = silu(v[i]) * v[i + 1u];
                }
            } else {
                Y[ybase + P.y_offset + r] = v[i];
            }
        }
    }
}
