// mul_mat_vec_q6_k.wgsl: Q6_K family of the matvec (driver: mul_mat_vec.wgsl).
// Block on disk is 210 B (not 4-byte aligned); backends.wgpu.weights pads each to 212 B =
// 53 words, which aligns every field:
//   words 0-31: ql, 128 B low nibbles; words 32-47: qh, 64 B of 2-bit highs;
//   words 48-51: 16 int8 scales (one per 16 values, in value order); word 52: f16 d (low).
// v = d * scale_l * (q - 32), q = low nibble | high 2 bits << 4 (llama.cpp dequantize_row_q6_K):
// half n = l / 8 (128 values), quadrant qd = (l % 8) / 2 (32 values), position 16*(l % 2) + k:
//   ql byte n*64 + (qd % 2)*32 + p (nibble qd / 2), qh byte n*32 + p (bits 2*qd).

@group(0) @binding(0) var<storage, read> W: array<u32>;

fn w_word(i: u32) -> u32 { return W[i]; }

const Q6_K_WORDS: u32 = 53u;

fn n_chunks(cols: u32) -> u32 { return cols / 16u; }

fn chunk(wrow: u32, c: u32) -> Chunk {
    let l = c % 16u;
    let n = l / 8u;
    let qd = (l % 8u) / 2u;
    let h = l % 2u;
    let base = wrow + (c / 16u) * Q6_K_WORDS;
    let ql0 = base + n * 16u + (qd % 2u) * 8u + h * 4u;
    let qh0 = base + 32u + n * 8u + h * 4u;
    let lshift = (qd / 2u) * 4u;
    let hshift = qd * 2u;
    var ch: Chunk;
    for (var i = 0u; i < 4u; i++) {
        let lo = (W[ql0 + i] >> lshift) & 0x0f0f0f0fu;
        let hi = ((W[qh0 + i] >> hshift) & 0x03030303u) << 4u;
        ch.q[i] = u8x4(lo | hi);
    }
    // int8 scale without a conversion instruction: the byte offset by 128 is unsigned
    let sc = small_u32_to_f32(byte_of(W[base + 48u + l / 4u], l % 4u) ^ 0x80u) - 128.0;
    ch.a = f16_lo(W[base + 52u]) * sc;
    ch.b = 32.0 * ch.a;  // v = a * (q - 32)
    return ch;
}
