// mul_mat_vec_q4_k.wgsl: Q4_K family of the matvec (driver: mul_mat_vec.wgsl).
// Block (256 values, 144 B = 36 words, already 4-byte aligned, uploaded as is):
//   word 0: f16 d (low), f16 dmin (high); words 1-3: packed 6-bit scales/mins (k_scale_min);
//   words 4-35: 128 B of nibbles; nibble group g (8 words) holds sub-block 2g in the low
//   nibbles and 2g+1 in the high nibbles. v = d*sc_j*q - dmin*m_j.
// Chunk l (0..15) of a block = values 16l..16l+15 = half (l % 2) of sub-block j = l / 2.

const Q4_K_WORDS: u32 = 36u;

fn n_chunks(cols: u32) -> u32 { return cols / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    let l = c % 16u;
    let j = l / 2u;
    let base = wrow + (c / 16u) * Q4_K_WORDS;
    let dm = W[base];
    let sm = k_scale_min(j, W[base + 1u], W[base + 2u], W[base + 3u]);
    let q0 = base + 4u + (l / 4u) * 8u + (l % 2u) * 4u;
    let shift = (j % 2u) * 4u;
    var ch: Chunk;
    for (var i = 0u; i < 4u; i++) {
        ch.q[i] = u8x4((W[q0 + i] >> shift) & 0x0f0f0f0fu);
    }
    ch.a = f16_lo(dm) * small_u32_to_f32(sm.x);
    ch.b = f16_hi(dm) * small_u32_to_f32(sm.y);
    return ch;
}
