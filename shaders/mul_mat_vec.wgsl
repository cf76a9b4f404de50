// mul_mat_vec.wgsl: the driver shared by every matvec family (y = W·x, f32 accumulation).
// Composed as: common + mul_mat_vec_params + mul_mat_vec + mul_mat_vec_reduce_{sg,wg} +
// mul_mat_vec_<qtype>.
// The family file supplies `n_chunks(cols)` and `chunk(wrow, c) -> Chunk`: chunk c (values
// 16c..16c+15) of the row starting at word `wrow`, as value = a * q - b (q exact small
// integers or, for float types, the values with a = 1, b = 0; zeros past a ragged row end).
// `chunk_dot` (here) is its dot product with 16 inputs; other kernels (embedding.wgsl) use it.
// CPU function it must match: backends.cpu.ops.matvec (dequantize(row) @ x).
//
// Bindings (group 0): 0 W (u32 words, repacked blocks, backends.wgpu.weights)
//                     1 X (f32 inputs), 2 Y (f32 outputs), 3 IDS (u32 expert id per slot)
//                     4 P (MatvecParams, uniform)
// Dispatch: x*z = ceil(rows / ROWS) row groups (z > 1 only past 65535 groups),
//           y = slot group: NV consecutive slots (batch positions t, or expert slots s with
//           expert = IDS[s] when use_ids = 1; NV = 1 with ids).
// One weight buffer holds one piece of a tensor: rows [y_offset, y_offset + rows) of experts
// [e0, e1). A slot whose expert is not in the piece writes nothing (another piece's dispatch
// writes it), so the CPU never needs to see the routing.

// MatvecParams: mul_mat_vec_params.wgsl.

struct Chunk {
    q: array<vec4<f32>, 4>,
    a: f32,
    b: f32,
}

// binding 0, W: declared by each family (u32 words, or vec4<u32> where blocks allow 16-byte
// loads), which also supplies w_word(i) -> u32 (word i of the piece).
// X as vec4s: one 16-byte load per 4 inputs where they are 16-byte aligned (the 16 scalar loads
// per chunk were ~25-40 % of a Q4_K matvec on an H100, docs/perf.md step 21); storage buffers
// are sized in multiples of 16 bytes (backends.wgpu.runtime), so every float has a vec4.
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> IDS: array<u32>;
@group(0) @binding(4) var<uniform> P: MatvecParams;

override WG: u32 = 128u;       // threads per workgroup, a power of two <= 256
override ROWS: u32 = 2u;       // rows per workgroup (<= 4); x loads shared by the rows
override NV: u32 = 1u;         // input vectors per workgroup (<= 4); weights decoded once for all
override DROP_LAST: u32 = 0u;  // fault reduction_drops_last: the last partial sum is dropped
override SWIGLU: u32 = 0u;     // 1: rows interleave gate/up (2i, 2i+1); y[i] = silu(gate)·up
const ROWS_MAX: u32 = 4u;
const NV_MAX: u32 = 4u;
const ACC: u32 = 16u;          // ROWS_MAX * NV_MAX accumulators, index r * NV_MAX + v

fn chunk_dot(wrow: u32, c: u32, xs: array<vec4<f32>, 4>, xsum: f32) -> f32 {
    let ch = chunk(wrow, c);
    let s = dot(ch.q[0], xs[0]) + dot(ch.q[1], xs[1]) + dot(ch.q[2], xs[2]) + dot(ch.q[3], xs[3]);
    return ch.a * s - ch.b * xsum;
}

fn slot_expert(slot: u32) -> u32 {
    if (P.use_ids != 0u) {
        return IDS[slot];
    }
    return P.e0;
}

fn row_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.z * nwg.x;
}

fn slot_ok(slot: u32) -> bool {
    return P.max_slots == 0u || slot < P.max_slots;
}

// 16 inputs of chunk c for slot (zeros past the row end); .w of the result is their sum.
fn load_x(slot: u32, c: u32) -> array<vec4<f32>, 4> {
    var xs: array<vec4<f32>, 4>;
    let xbase = (slot / max(P.x_group, 1u)) * P.x_stride;
    for (var i = 0u; i < 4u; i++) {
        let col = c * 16u + 4u * i;
        let o = xbase + col;
        if (col + 3u < P.cols && (o & 3u) == 0u) {
            xs[i] = X[o >> 2u];
        } else {  // unaligned start (x_stride % 4 != 0) or the ragged tail of a float row
            for (var k = 0u; k < 4u; k++) {
                if (col + k < P.cols) { xs[i][k] = X[(o + k) >> 2u][(o + k) & 3u]; }
            }
        }
    }
    return xs;
}

fn sum16(xs: array<vec4<f32>, 4>) -> f32 {
    let one = vec4<f32>(1.0, 1.0, 1.0, 1.0);
    return dot(xs[0], one) + dot(xs[1], one) + dot(xs[2], one) + dot(xs[3], one);
}

// Per-thread partial sums, acc[r * NV_MAX + v] for row r and vector v of this workgroup.
fn matvec_partials(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> array<f32, 16> {
    var acc: array<f32, 16>;
    let slot0 = wid.y * NV;
    let e = slot_expert(slot0);
    let row0 = row_group(wid, nwg) * ROWS;
    let nch = n_chunks(P.cols);
    if (e >= P.e0 && e < P.e1 && row0 < P.rows && slot_ok(slot0)) {
        let wbase = (e - P.e0) * P.expert_words + row0 * P.row_words;
        // single vector: one accumulator per row in a vec4 with constant indices (a loop over
        // rows indexing acc[] may keep the array in local memory)
        var a1 = vec4<f32>(0.0);
        for (var c = lid; c < nch; c += WG) {
            if (NV == 1u) {  // decode-free form: a·Σqx − b·Σx, x's sum shared by the rows
                var xs: array<vec4<f32>, 4>;
                xs = load_x(slot0, c);
                let xsum = sum16(xs);
                a1.x += chunk_dot(wbase, c, xs, xsum);
                if (ROWS > 1u && row0 + 1u < P.rows) {
                    a1.y += chunk_dot(wbase + P.row_words, c, xs, xsum);
                }
                if (ROWS > 2u && row0 + 2u < P.rows) {
                    a1.z += chunk_dot(wbase + 2u * P.row_words, c, xs, xsum);
                }
                if (ROWS > 3u && row0 + 3u < P.rows) {
                    a1.w += chunk_dot(wbase + 3u * P.row_words, c, xs, xsum);
                }
            } else {  // batch: decode each weight chunk once, use it for NV inputs
                var xv: array<array<vec4<f32>, 4>, 4>;
                for (var v = 0u; v < NV; v++) {
                    if (slot_ok(slot0 + v)) { xv[v] = load_x(slot0 + v, c); }
                }
                for (var r = 0u; r < ROWS; r++) {
                    if (row0 + r < P.rows) {
                        let ch = chunk(wbase + r * P.row_words, c);
                        var w: array<vec4<f32>, 4>;
                        for (var i = 0u; i < 4u; i++) { w[i] = ch.a * ch.q[i] - ch.b; }
                        for (var v = 0u; v < NV; v++) {
                            acc[r * NV_MAX + v] += dot(w[0], xv[v][0]) + dot(w[1], xv[v][1])
                                                 + dot(w[2], xv[v][2]) + dot(w[3], xv[v][3]);
                        }
                    }
                }
            }
        }
        if (NV == 1u) {
            acc[0] = a1.x;
            acc[NV_MAX] = a1.y;
            acc[2u * NV_MAX] = a1.z;
            acc[3u * NV_MAX] = a1.w;
        }
    }
    // Planted bug for the mutation suite: the thread holding the last chunk contributes nothing.
    if (DROP_LAST != 0u && lid == (nch - 1u) % WG) {
        acc = array<f32, 16>();
    }
    return acc;
}

// Workgroup totals, tot[r * NV_MAX + v], filled by the reduce entry point before matvec_write.
var<workgroup> tot: array<f32, 16>;

fn silu(g: f32) -> f32 {
    return g / (1.0 + exp(-g));
}

// After the reduction (tot filled, barrier passed): write this workgroup's outputs.
fn matvec_write(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
    let e = slot_expert(wid.y * NV);
    let row0 = row_group(wid, nwg) * ROWS;
    if (e < P.e0 || e >= P.e1) { return; }
    if (SWIGLU != 0u) {  // ROWS even: local rows (2i, 2i+1) are (gate, up) of output row/2
        let r = 2u * lid;
        let slot = wid.y * NV;
        if (lid < ROWS / 2u && row0 + r + 1u < P.rows && slot_ok(slot)) {
            let o = slot * P.y_stride + (P.y_offset + row0 + r) / 2u;
            Y[o] = silu(tot[r * NV_MAX]) * tot[(r + 1u) * NV_MAX];
        }
        return;
    }
    for (var i = lid; i < ACC; i += WG) {  // a loop: WG may be smaller than ACC
        let r = i / NV_MAX;
        let v = i % NV_MAX;
        let slot = wid.y * NV + v;
        if (r < ROWS && v < NV && row0 + r < P.rows && slot_ok(slot)) {
            Y[slot * P.y_stride + P.y_offset + row0 + r] = tot[i];
        }
    }
}
