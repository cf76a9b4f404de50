// mul_mat_vec_f16.wgsl: F16 family of the matvec (driver: mul_mat_vec.wgsl).
// Rows are padded to an even number of values (backends.wgpu.weights) so each row starts on a
// word; value 2i is the low half of word i. Chunks past the row end read nothing (ragged tail).

fn n_chunks(cols: u32) -> u32 { return (cols + 15u) / 16u; }

fn chunk_dot(wrow: u32, c: u32, xs: array<vec4<f32>, 4>, xsum: f32) -> f32 {
    var s = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let col = c * 16u + 4u * i;
        if (col + 3u < P.cols) {
            let a = W[wrow + col / 2u];
            let b = W[wrow + col / 2u + 1u];
            s += dot(vec4<f32>(f16_lo(a), f16_hi(a), f16_lo(b), f16_hi(b)), xs[i]);
        } else {
            for (var k = 0u; k < 4u; k++) {
                if (col + k < P.cols) {
                    let w = W[wrow + (col + k) / 2u] >> (16u * ((col + k) % 2u));
                    s += f16_to_f32(w & 0xffffu) * xs[i][k];
                }
            }
        }
    }
    return s;
}
