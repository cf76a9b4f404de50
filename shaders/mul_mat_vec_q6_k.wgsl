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

// Decode task: 64 values of half n = (t % 4) / 2 of block t / 4 sharing one 32-byte run of ql
// (hh = t % 2: ql bytes 32hh..32hh+31 of the half): its low nibbles are values 32hh + l, its
// high nibbles 64 + 32hh + l (l < 32), the high bits from qh byte l at bits 2hh and 2hh + 4.
// 16 ql/qh words + 2 scale words + d for 64 values (the chunk path: 10 words per 16).
const TASK: u32 = 4u;

fn task_x(t: u32, i: u32) -> u32 {
    let base = 256u * (t / 4u) + 128u * ((t % 4u) / 2u) + 32u * (t % 2u);
    return base + select(4u * i, 64u + 4u * (i - 8u), i >= 8u);
}

fn task_dot(wrow: u32, t: u32, xs: array<vec4<f32>, 16>) -> f32 {
    let n = (t % 4u) / 2u;
    let hh = t % 2u;
    let base = wrow + (t / 4u) * Q6_K_WORDS;
    let ql0 = base + n * 16u + hh * 8u;
    let qh0 = base + 32u + n * 8u;
    var s = array<f32, 4>(0.0, 0.0, 0.0, 0.0);   // per 16-value scale group: lo0 lo1 hi0 hi1
    var xsum = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    let one = vec4<f32>(1.0);
    for (var i = 0u; i < 8u; i++) {
        let a = W[ql0 + i];
        let h = W[qh0 + i];
        let lo = (a & 0x0f0f0f0fu) | (((h >> (2u * hh)) & 0x03030303u) << 4u);
        let hi = ((a >> 4u) & 0x0f0f0f0fu) | (((h >> (2u * hh + 4u)) & 0x03030303u) << 4u);
        s[i / 4u] += dot(u8x4(lo), xs[i]);
        s[2u + i / 4u] += dot(u8x4(hi), xs[8u + i]);
        xsum[i / 4u] += dot(xs[i], one);
        xsum[2u + i / 4u] += dot(xs[8u + i], one);
    }
    let sw0 = W[base + 48u + 2u * n];   // scales 0-3 of the half
    let sw1 = W[base + 49u + 2u * n];   // scales 4-7
    var acc = 0.0;
    for (var k = 0u; k < 4u; k++) {
        let word = select(sw0, sw1, k >= 2u);
        let sc = small_u32_to_f32(byte_of(word, 2u * hh + k % 2u) ^ 0x80u) - 128.0;
        acc += sc * (s[k] - 32.0 * xsum[k]);
    }
    return f16_lo(W[base + 52u]) * acc;
}
