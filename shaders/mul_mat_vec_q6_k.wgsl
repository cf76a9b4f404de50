// mul_mat_vec_q6_k.wgsl: Q6_K family of the matvec (driver: mul_mat_vec.wgsl).
// Block on disk is 210 B (not 4-byte aligned); backends.wgpu.weights pads each to 224 B =
// 14 vec4 words, which aligns every field to 16 bytes:
//   vec4s 0-7: ql, 128 B low nibbles; 8-11: qh, 64 B of 2-bit highs;
//   12: 16 int8 scales (one per 16 values, in value order); 13: f16 d (low half of .x).
// v = d * scale_l * (q - 32), q = low nibble | high 2 bits << 4 (llama.cpp dequantize_row_q6_K):
// half n = l / 8 (128 values), quadrant qd = (l % 8) / 2 (32 values), position 16*(l % 2) + k:
//   ql byte n*64 + (qd % 2)*32 + p (nibble qd / 2), qh byte n*32 + p (bits 2*qd).
// A chunk is 4 vec4 loads (ql, qh, scales, d); 10 scalar loads with 212 B blocks (the head
// and half the down projections are Q6_K: docs/perf.md step 23).

@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;

fn w_word(i: u32) -> u32 { return W[i / 4u][i % 4u]; }

const Q6_K_WORDS: u32 = 56u;

fn n_chunks(cols: u32) -> u32 { return cols / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    let l = c % 16u;
    let n = l / 8u;
    let qd = (l % 8u) / 2u;
    let h = l % 2u;
    let b4 = (wrow + (c / 16u) * Q6_K_WORDS) / 4u;
    let lo = W[b4 + n * 4u + (qd % 2u) * 2u + h];
    let hi = W[b4 + 8u + n * 2u + h];
    let lshift = (qd / 2u) * 4u;
    let hshift = qd * 2u;
    var ch: Chunk;
    for (var i = 0u; i < 4u; i++) {
        let q = ((lo[i] >> lshift) & 0x0f0f0f0fu) | (((hi[i] >> hshift) & 0x03030303u) << 4u);
        ch.q[i] = u8x4(q);
    }
    let sc = q6_scale(W[b4 + 12u][l / 4u], l % 4u);
    ch.a = f16_lo(W[b4 + 13u].x) * sc;
    ch.b = 32.0 * ch.a;  // v = a * (q - 32)
    return ch;
}

// int8 scale byte i of a word, without a conversion instruction (the byte offset by 128 is
// unsigned).
fn q6_scale(w: u32, i: u32) -> f32 {
    return small_u32_to_f32(byte_of(w, i) ^ 0x80u) - 128.0;
}
