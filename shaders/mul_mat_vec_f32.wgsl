// mul_mat_vec_f32.wgsl: F32 family of the matvec (driver: mul_mat_vec.wgsl), e.g. the router.
// Rows as stored: word i of a row is value i (bitcast). Values past the row end read nothing.

// Rows as vec4<u32> words: one 16-byte load per 4 values where the row offset is aligned (the
// router's 1 MB, every layer), scalar picks for odd row lengths and the ragged tail.
@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;

fn w_word(i: u32) -> u32 { return W[i >> 2u][i & 3u]; }

fn n_chunks(cols: u32) -> u32 { return (cols + 15u) / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    var ch: Chunk;
    ch.a = 1.0;
    ch.b = 0.0;
    for (var i = 0u; i < 4u; i++) {
        let col = c * 16u + 4u * i;
        let o = wrow + col;
        if (col + 3u < P.cols && (o & 3u) == 0u) {
            ch.q[i] = bitcast<vec4<f32>>(W[o >> 2u]);
        } else {
            for (var k = 0u; k < 4u; k++) {
                if (col + k < P.cols) { ch.q[i][k] = bitcast<f32>(w_word(o + k)); }
            }
        }
    }
    return ch;
}
