// mul_mat_vec_f32.wgsl: F32 family of the matvec (driver: mul_mat_vec.wgsl), e.g. the router.
// Rows as stored: word i of a row is value i (bitcast). Values past the row end read nothing.

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
            let o = wrow + col;
            ch.q[i] = bitcast<vec4<f32>>(vec4<u32>(W[o], W[o + 1u], W[o + 2u], W[o + 3u]));
        } else {
            for (var k = 0u; k < 4u; k++) {
                if (col + k < P.cols) { ch.q[i][k] = bitcast<f32>(W[wrow + col + k]); }
            }
        }
    }
    return ch;
}
