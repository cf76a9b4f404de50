// mul_mat_vec_q8_0.wgsl: Q8_0 family of the matvec (driver: mul_mat_vec.wgsl).
// Block on disk: f16 d then 32 int8 (34 B, not 4-byte aligned). backends.wgpu.weights repacks
// each to 36 B = 9 words: words 0-7 the 32 int8 values, word 8 f16 d (low half). v = d*q.
// Chunk c = half (c % 2) of block c / 2.

@group(0) @binding(0) var<storage, read> W: array<u32>;

fn w_word(i: u32) -> u32 { return W[i]; }

const Q8_0_WORDS: u32 = 9u;

fn n_chunks(cols: u32) -> u32 { return cols / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    let base = wrow + (c / 2u) * Q8_0_WORDS;
    let q0 = base + (c % 2u) * 4u;
    var ch: Chunk;
    for (var i = 0u; i < 4u; i++) {
        ch.q[i] = i8x4(W[q0 + i]);
    }
    ch.a = f16_lo(W[base + 8u]);
    ch.b = 0.0;
    return ch;
}
