// mul_mat_vec_bf16.wgsl: BF16 family of the matvec: the 16-bit row layout and chunk() are in
// mul_mat_vec_halves.wgsl (composed with this file); this file says how the bits decode.

fn half_to_f32(bits: u32) -> f32 { return bf16_to_f32(bits); }
