// mul_mat_vec_q5_k.wgsl: Q5_K family of the matvec (driver: mul_mat_vec.wgsl).
// Block (256 values, 176 B = 44 words, 4-byte aligned, uploaded as is):
//   word 0: f16 d, f16 dmin; words 1-3: packed scales/mins (k_scale_min);
//   words 4-11: qh, 32 B: bit j of byte p is the fifth bit of value p of sub-block j;
//   words 12-43: 128 B of low nibbles, laid out as Q4_K. v = d*sc_j*(q + 16*hbit) - dmin*m_j.
// Chunk l (0..15) = half h = l % 2 of sub-block j = l / 2 (positions p = 16h..16h+15).

@group(0) @binding(0) var<storage, read> W: array<u32>;

fn w_word(i: u32) -> u32 { return W[i]; }

const Q5_K_WORDS: u32 = 44u;

fn n_chunks(cols: u32) -> u32 { return cols / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    let l = c % 16u;
    let j = l / 2u;
    let h = l % 2u;
    let base = wrow + (c / 16u) * Q5_K_WORDS;
    let dm = W[base];
    let sm = k_scale_min(j, W[base + 1u], W[base + 2u], W[base + 3u]);
    let ql0 = base + 12u + (l / 4u) * 8u + h * 4u;
    let qh0 = base + 4u + h * 4u;
    let shift = (j % 2u) * 4u;
    var ch: Chunk;
    for (var i = 0u; i < 4u; i++) {
        let lo = (W[ql0 + i] >> shift) & 0x0f0f0f0fu;
        let hi = ((W[qh0 + i] >> j) & 0x01010101u) << 4u;
        ch.q[i] = u8x4(lo | hi);
    }
    ch.a = f16_lo(dm) * small_u32_to_f32(sm.x);
    ch.b = f16_hi(dm) * small_u32_to_f32(sm.y);
    return ch;
}
