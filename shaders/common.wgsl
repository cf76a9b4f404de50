// common.wgsl: helpers shared by every kernel family (prepended to each family file).
//
// Half floats are decoded with integer bit operations, not unpack2x16float: that builtin needs a
// capability lavapipe may lack (REFERENCE.md §5), and shader-f16 is optional.
// Bytes are read from u32 words (storage buffers of u32; little-endian like the GGUF blocks).

// f16 bits (low 16 bits of h) -> f32. Handles zero, subnormals, inf and NaN.
fn f16_to_f32(h: u32) -> f32 {
    let sign = (h & 0x8000u) << 16u;
    let exp = (h >> 10u) & 0x1fu;
    let man = h & 0x3ffu;
    if (exp == 0u) {
        // subnormal (or zero): man * 2^-24, exact in f32
        let mag = f32(man) * 5.9604644775390625e-8;
        return select(mag, -mag, sign != 0u);
    }
    if (exp == 31u) {
        return bitcast<f32>(sign | 0x7f800000u | (man << 13u));
    }
    return bitcast<f32>(sign | ((exp + 112u) << 23u) | (man << 13u));
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
