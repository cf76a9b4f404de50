// mul_mat_vec_halves.wgsl: the 16-bit float families of the matvec (F16, BF16; driver:
// mul_mat_vec.wgsl). Rows are padded to an even number of values (backends.wgpu.weights) so
// each row starts on a word; value 2i is the low half of word i. Values past the row end read
// nothing (zeros). The family file (mul_mat_vec_f16 / _bf16) supplies half_to_f32(bits).

@group(0) @binding(0) var<storage, read> W: array<u32>;

fn w_word(i: u32) -> u32 { return W[i]; }

fn n_chunks(cols: u32) -> u32 { return (cols + 15u) / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    var ch: Chunk;
    ch.a = 1.0;
    ch.b = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let col = c * 16u + 4u * i;
        if (col + 3u < P.cols) {
            let lo = W[wrow + col / 2u];
            let hi = W[wrow + col / 2u + 1u];
            ch.q[i] = vec4<f32>(half_to_f32(lo & 0xffffu), half_to_f32(lo >> 16u), half_to_f32(hi & 0xffffu),
                                half_to_f32(hi >> 16u));
        } else {
            for (var k = 0u; k < 4u; k++) {
                if (col + k < P.cols) {
                    let w = W[wrow + (col + k) / 2u] >> (16u * ((col + k) % 2u));
                    ch.q[i][k] = half_to_f32(w & 0xffffu);
                }
            }
        }
    }
    return ch;
}
