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
    let sc = q6_scale(W[base + 48u + l / 4u], l % 4u);
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

// Four 6-bit values (low or high nibbles of ql word a, 2 bits of qh word h at hs) times 4
// inputs; q - 32 is applied by the caller through the inputs' sum.
fn q6_dot(a: u32, ls: u32, h: u32, hs: u32, x: vec4<f32>) -> f32 {
    return dot(u8x4(((a >> ls) & 0x0f0f0f0fu) | (((h >> hs) & 0x03030303u) << 4u)), x);
}

fn task_dot(wrow: u32, t: u32, x: X64) -> f32 {
    let n = (t % 4u) / 2u;
    let hh = t % 2u;
    let base = wrow + (t / 4u) * Q6_K_WORDS;
    let l = base + n * 16u + hh * 8u;   // 8 ql words
    let q = base + 32u + n * 8u;        // 8 qh words
    let a0 = W[l]; let a1 = W[l + 1u]; let a2 = W[l + 2u]; let a3 = W[l + 3u];
    let a4 = W[l + 4u]; let a5 = W[l + 5u]; let a6 = W[l + 6u]; let a7 = W[l + 7u];
    let h0 = W[q]; let h1 = W[q + 1u]; let h2 = W[q + 2u]; let h3 = W[q + 3u];
    let h4 = W[q + 4u]; let h5 = W[q + 5u]; let h6 = W[q + 6u]; let h7 = W[q + 7u];
    let sl = 2u * hh;
    let sh = sl + 4u;
    // one sum per 16-value scale group: low nibbles (values 32hh + 0..31), high (64 + 32hh + ..)
    let lo0 = q6_dot(a0, 0u, h0, sl, x.v0) + q6_dot(a1, 0u, h1, sl, x.v1)
            + q6_dot(a2, 0u, h2, sl, x.v2) + q6_dot(a3, 0u, h3, sl, x.v3);
    let lo1 = q6_dot(a4, 0u, h4, sl, x.v4) + q6_dot(a5, 0u, h5, sl, x.v5)
            + q6_dot(a6, 0u, h6, sl, x.v6) + q6_dot(a7, 0u, h7, sl, x.v7);
    let hi0 = q6_dot(a0, 4u, h0, sh, x.v8) + q6_dot(a1, 4u, h1, sh, x.v9)
            + q6_dot(a2, 4u, h2, sh, x.v10) + q6_dot(a3, 4u, h3, sh, x.v11);
    let hi1 = q6_dot(a4, 4u, h4, sh, x.v12) + q6_dot(a5, 4u, h5, sh, x.v13)
            + q6_dot(a6, 4u, h6, sh, x.v14) + q6_dot(a7, 4u, h7, sh, x.v15);
    let one = vec4<f32>(1.0);
    let x0 = dot(x.v0 + x.v1 + x.v2 + x.v3, one);
    let x1 = dot(x.v4 + x.v5 + x.v6 + x.v7, one);
    let x2 = dot(x.v8 + x.v9 + x.v10 + x.v11, one);
    let x3 = dot(x.v12 + x.v13 + x.v14 + x.v15, one);
    let sw0 = W[base + 48u + 2u * n];   // scales 0-3 of the half: groups lo0 = 2hh, lo1 = 2hh + 1
    let sw1 = W[base + 49u + 2u * n];   // scales 4-7: hi0 = 4 + 2hh, hi1 = 5 + 2hh
    let acc = q6_scale(sw0, sl) * (lo0 - 32.0 * x0) + q6_scale(sw0, sl + 1u) * (lo1 - 32.0 * x1)
            + q6_scale(sw1, sl) * (hi0 - 32.0 * x2) + q6_scale(sw1, sl + 1u) * (hi1 - 32.0 * x3);
    return f16_lo(W[base + 52u]) * acc;
}

// int8 scale byte i of a word, without a conversion instruction (the byte offset by 128 is
// unsigned).
fn q6_scale(w: u32, i: u32) -> f32 {
    return small_u32_to_f32(byte_of(w, i) ^ 0x80u) - 128.0;
}
