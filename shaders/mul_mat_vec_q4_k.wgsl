// mul_mat_vec_q4_k.wgsl: Q4_K family of the matvec (driver: mul_mat_vec.wgsl).
// Block (256 values, 144 B = 36 words = 9 vec4 words, uploaded as is):
//   word 0: f16 d (low), f16 dmin (high); words 1-3: packed 6-bit scales/mins (k_scale_min);
//   words 4-35: 128 B of nibbles; nibble group g (8 words) holds sub-block 2g in the low
//   nibbles and 2g+1 in the high nibbles. v = d*sc_j*q - dmin*m_j.
// Chunk l (0..15) of a block = values 16l..16l+15 = half (l % 2) of sub-block j = l / 2.

const Q4_K_WORDS: u32 = 36u;

// 16-byte loads: a block is 9 vec4 words and every row, expert and piece starts on a block, so
// the header (d|dmin, 3 scale words) is one load and a chunk's 4 nibble words another (8 scalar
// loads before; the load instructions, not the bytes, bounded this kernel on an H100).
@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;

fn w_word(i: u32) -> u32 { return W[i / 4u][i % 4u]; }

fn n_chunks(cols: u32) -> u32 { return cols / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    let l = c % 16u;
    let j = l / 2u;
    let b4 = (wrow + (c / 16u) * Q4_K_WORDS) / 4u;
    let hdr = W[b4];
    let sm = k_scale_min(j, hdr.y, hdr.z, hdr.w);
    let qv = W[b4 + 1u + (l / 4u) * 2u + (l % 2u)];
    let shift = (j % 2u) * 4u;
    var ch: Chunk;
    ch.q[0] = u8x4((qv.x >> shift) & 0x0f0f0f0fu);
    ch.q[1] = u8x4((qv.y >> shift) & 0x0f0f0f0fu);
    ch.q[2] = u8x4((qv.z >> shift) & 0x0f0f0f0fu);
    ch.q[3] = u8x4((qv.w >> shift) & 0x0f0f0f0fu);
    ch.a = f16_lo(hdr.x) * small_u32_to_f32(sm.x);
    ch.b = f16_hi(hdr.x) * small_u32_to_f32(sm.y);
    return ch;
}
