// common.wgsl: helpers shared by every kernel family (prepended to each family file).

// The per-step uniform every step kernel reads (backends.wgpu.op.step_bytes, 16 bytes):
// first position, tokens in the step, generate's history slot for argmax.
struct Step { pos0: u32, n_tok: u32, token_slot: u32, pad: u32 }
//
// Half floats are decoded with integer bit operations, not unpack2x16float: that builtin needs a
// capability lavapipe may lack (docs/reference.md §5), and shader-f16 is optional.
// Bytes are read from u32 words (storage buffers of u32; little-endian like the GGUF blocks).

// f16 bits (low 16 bits of h) -> f32, branch-free (divergent branches are slow on SIMD CPUs).
// Normal values: shift exponent+mantissa into f32 position and scale by 2^112 (the exponent
// bias difference). Subnormals (exponent 0) are mantissa * 2^-24, computed from an integer:
// the bit-shift route would pass through an f32 denormal, which NVIDIA flushes to zero (seen on
// an H100: every Q4_K block with a subnormal d decoded to 0). Exponent 31: inf / NaN.
fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let em = h & 0x7fffu;
    let normal = bitcast<f32>(em << 13u) * 5.192296858534828e33;
    let subnormal = small_u32_to_f32(em) * 5.9604644775390625e-8;
    let special = bitcast<f32>(0x7f800000u | ((em & 0x3ffu) << 13u));
    let mag = select(select(normal, subnormal, em < 0x400u), special, em >= 0x7c00u);
    return bitcast<f32>(sign | bitcast<u32>(mag));
}

// bf16 bits (low 16 bits of h) -> f32: bf16 is the top half of an f32.
fn bf16_to_f32(h: u32) -> f32 {
    return bitcast<f32>((h & 0xffffu) << 16u);
}

// Low / high f16 of a word.
fn f16_lo(w: u32) -> f32 { return f16_to_f32(w & 0xffffu); }
fn f16_hi(w: u32) -> f32 { return f16_to_f32(w >> 16u); }

// Byte i (0..3) of a word, as u32.
fn byte_of(w: u32, i: u32) -> u32 { return (w >> (8u * i)) & 0xffu; }

// Byte i (0..3) of a word, sign-extended (int8).
fn sbyte_of(w: u32, i: u32) -> i32 { return (bitcast<i32>(w << (24u - 8u * i))) >> 24u; }

// K-quant 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes in words s0..s2
// (Q4_K / Q5_K; llama.cpp get_scale_min_k4). Layout, docs/reference.md §3:
//   bytes 0-3: sc0..3 (low 6 bits) | top 2 bits of sc4..7
//   bytes 4-7: m0..3  (low 6 bits) | top 2 bits of m4..7
//   bytes 8-11: low 4 bits of sc4..7 (low nibble) and of m4..7 (high nibble)
// Returns vec2(scale, min).
fn k_scale_min(j: u32, s0: u32, s1: u32, s2: u32) -> vec2<u32> {
    // Branch-free: compute both cases for byte index jj = j % 4 and select.
    let jj = j % 4u;
    let low = vec2<u32>(byte_of(s0, jj) & 63u, byte_of(s1, jj) & 63u);
    let lo = byte_of(s2, jj);
    let high = vec2<u32>((lo & 15u) | ((byte_of(s0, jj) >> 6u) << 4u),
                         (lo >> 4u) | ((byte_of(s1, jj) >> 6u) << 4u));
    return select(high, low, j < 4u);
}

// Integer -> float without a conversion instruction (NVIDIA converts at 1/8 the FMA rate, and
// these conversions bounded the matvecs, docs/perf.md): for v < 2^23 the float with bits
// 0x4B000000 | v is exactly 2^23 + v, so subtracting 2^23 gives v exactly.
const MAGIC_BITS: u32 = 0x4B000000u;
const MAGIC: f32 = 8388608.0;

fn small_u32_to_f32(v: u32) -> f32 {
    return bitcast<f32>(MAGIC_BITS | v) - MAGIC;
}

// The four bytes of a word as floats (unsigned).
fn u8x4(w: u32) -> vec4<f32> {
    let b = vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u);
    return bitcast<vec4<f32>>(b | vec4<u32>(MAGIC_BITS)) - vec4<f32>(MAGIC);
}

// The four bytes of a word as floats (int8): the bytes offset by 128 (sign bit flipped) are
// unsigned, so (2^23 + b + 128) - (2^23 + 128) is exact.
fn i8x4(w: u32) -> vec4<f32> {
    return u8x4(w ^ 0x80808080u) - vec4<f32>(128.0);
}

// Round an f32 to f16 precision (10 mantissa bits, nearest-even) with integer ops only:
// unpack2x16float needs a capability some drivers lack (docs/reference.md §5). The kv_f16 fault's
// K/V cache rounding (qk_norm_rope_kv.wgsl, attention_decode.wgsl).
fn round_f16(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    let r = b + 0xFFFu + ((b >> 13u) & 1u);
    return bitcast<f32>(r & 0xFFFFE000u);
}
