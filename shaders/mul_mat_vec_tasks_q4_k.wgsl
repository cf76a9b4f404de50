// mul_mat_vec_tasks_q4_k.wgsl: Q4_K tasks for mul_mat_vec_tasks.wgsl (block layout: see
// mul_mat_vec_q4_k.wgsl; 144 B = 9 vec4 words, every block 16-byte aligned).
// Task s (0..7) of a block = its nibble vec4 s: 16 bytes = positions 16*(s % 2).. +15 of
// sub-block 2*(s / 2) (low nibbles) and of sub-block 2*(s / 2) + 1 (high nibbles): 32 values
// from one header load and one nibble load (the chunk driver loaded both per 16 values).

@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;

fn w_word(i: u32) -> u32 { return W[i / 4u][i % 4u]; }

// n_tasks, TaskX, task_x: mul_mat_vec_tasks_nibble_x.wgsl.

fn task_dot(wrow: u32, t: u32, x: TaskX) -> f32 {
    let s = t % 8u;
    let b4 = (wrow + (t / 8u) * 36u) / 4u;
    let hdr = W[b4];
    let q = W[b4 + 1u + s];
    let j = 2u * (s / 2u);
    let m0 = k_scale_min(j, hdr.y, hdr.z, hdr.w);
    let m1 = k_scale_min(j + 1u, hdr.y, hdr.z, hdr.w);
    let k = 0x0f0f0f0fu;
    let lo = dot(u8x4(q.x & k), x.lo[0]) + dot(u8x4(q.y & k), x.lo[1])
           + dot(u8x4(q.z & k), x.lo[2]) + dot(u8x4(q.w & k), x.lo[3]);
    let hi = dot(u8x4((q.x >> 4u) & k), x.hi[0]) + dot(u8x4((q.y >> 4u) & k), x.hi[1])
           + dot(u8x4((q.z >> 4u) & k), x.hi[2]) + dot(u8x4((q.w >> 4u) & k), x.hi[3]);
    let sc = vec2<f32>(small_u32_to_f32(m0.x), small_u32_to_f32(m1.x));
    let mn = vec2<f32>(small_u32_to_f32(m0.y), small_u32_to_f32(m1.y));
    return f16_lo(hdr.x) * (sc.x * lo + sc.y * hi) - f16_hi(hdr.x) * (mn.x * x.slo + mn.y * x.shi);
}
