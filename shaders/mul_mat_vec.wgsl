// mul_mat_vec.wgsl: the driver shared by every matvec family (y = W·x, f32 accumulation).
// Composed as: common + mul_mat_vec + mul_mat_vec_reduce_{sg,wg} + mul_mat_vec_<qtype>.
// The family file supplies `n_chunks(cols)` and `chunk_dot(wrow, c, xs, xsum)`: the dot
// product of chunk c (values 16c..16c+15) of the row starting at word `wrow` with xs.
// CPU function it must match: backends.cpu.ops.matvec (dequantize(row) @ x).
//
// Bindings (group 0): 0 W (u32 words, repacked blocks, backends.wgpu.weights)
//                     1 X (f32 inputs), 2 Y (f32 outputs), 3 IDS (u32 expert id per slot)
//                     4 P (MatvecParams, uniform)
// Dispatch: x*z = ceil(rows / ROWS) row groups (z > 1 only past 65535 groups),
//           y = slot: batch position t, or expert slot s (expert = IDS[s] when use_ids = 1).
// One weight buffer holds one piece of a tensor: rows [y_offset, y_offset + rows) of experts
// [e0, e1). A slot whose expert is not in the piece writes nothing (another piece's dispatch
// writes it), so the CPU never needs to see the routing.

struct MatvecParams {
    rows: u32,          // rows in this piece
    cols: u32,          // values per row
    row_words: u32,     // u32 words per repacked row
    expert_words: u32,  // words per expert in this piece (0 for 2-D tensors)
    x_stride: u32,      // floats between consecutive slots' inputs (0: one shared input)
    y_stride: u32,      // floats between consecutive slots' outputs
    y_offset: u32,      // output index of this piece's first row
    e0: u32,            // first expert held by this piece
    e1: u32,            // one past the last expert held
    use_ids: u32,       // 1: slot s uses expert IDS[s]; 0: expert e0
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> IDS: array<u32>;
@group(0) @binding(4) var<uniform> P: MatvecParams;

override WG: u32 = 128u;       // threads per workgroup, a power of two <= 256
override ROWS: u32 = 2u;       // rows per workgroup, <= ROWS_MAX; x loads shared by the rows
override DROP_LAST: u32 = 0u;  // fault reduction_drops_last: the last partial sum is dropped
override ACCUMULATE: u32 = 0u; // 1: y += W·x (e.g. the residual add after attn_output)
const ROWS_MAX: u32 = 4u;

fn slot_expert(slot: u32) -> u32 {
    if (P.use_ids != 0u) {
        return IDS[slot];
    }
    return P.e0;
}

fn row_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.z * nwg.x;
}

// Per-thread partial sums of ROWS rows (entries >= ROWS are zero).
fn matvec_partials(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> array<f32, 4> {
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let slot = wid.y;
    let e = slot_expert(slot);
    let row0 = row_group(wid, nwg) * ROWS;
    let nch = n_chunks(P.cols);
    if (e >= P.e0 && e < P.e1 && row0 < P.rows) {
        let xbase = slot * P.x_stride;
        let wbase = (e - P.e0) * P.expert_words + row0 * P.row_words;
        for (var c = lid; c < nch; c += WG) {
            var xs: array<vec4<f32>, 4>;
            var xsum = 0.0;
            for (var i = 0u; i < 4u; i++) {
                let col = c * 16u + 4u * i;
                if (col + 3u < P.cols) {
                    let o = xbase + col;
                    xs[i] = vec4<f32>(X[o], X[o + 1u], X[o + 2u], X[o + 3u]);
                } else {  // ragged tail of a float row: missing values are zero
                    for (var k = 0u; k < 4u; k++) {
                        if (col + k < P.cols) { xs[i][k] = X[xbase + col + k]; }
                    }
                }
                xsum += xs[i].x + xs[i].y + xs[i].z + xs[i].w;
            }
            for (var r = 0u; r < ROWS; r++) {
                if (row0 + r < P.rows) {
                    acc[r] += chunk_dot(wbase + r * P.row_words, c, xs, xsum);
                }
            }
        }
    }
    // Planted bug for the mutation suite: the thread holding the last chunk contributes nothing.
    if (DROP_LAST != 0u && lid == (nch - 1u) % WG) {
        acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    }
    return acc;
}

// Write row r of this workgroup's group (called by one thread per row after the reduction).
fn matvec_store(wid: vec3<u32>, nwg: vec3<u32>, r: u32, value: f32) {
    let slot = wid.y;
    let e = slot_expert(slot);
    let row = row_group(wid, nwg) * ROWS + r;
    if (r < ROWS && row < P.rows && e >= P.e0 && e < P.e1) {
        let i = slot * P.y_stride + P.y_offset + row;
        if (ACCUMULATE != 0u) {
            Y[i] = Y[i] + value;
        } else {
            Y[i] = value;
        }
    }
}
