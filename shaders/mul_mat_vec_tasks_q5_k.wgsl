// mul_mat_vec_tasks_q5_k.wgsl: Q5_K tasks for mul_mat_vec_tasks.wgsl (block layout: see
// mul_mat_vec_q5_k.wgsl; 176 B = 11 vec4 words, every block 16-byte aligned: header vec4,
// qh vec4s 1-2, low-nibble vec4s 3-10 laid out as Q4_K's).
// Task s (0..7) = low-nibble vec4 s: positions p = 16*(s % 2).. +15 of sub-blocks
// j = 2*(s / 2) (low nibbles) and j + 1 (high nibbles); their fifth bits are bits j and j + 1
// of qh bytes p, i.e. of qh vec4 (s % 2).

@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;

fn w_word(i: u32) -> u32 { return W[i / 4u][i % 4u]; }

// n_tasks, TaskX, task_x: mul_mat_vec_tasks_nibble_x.wgsl.

fn q5(q: u32, h: u32, shift: u32, j: u32) -> vec4<f32> {
    return u8x4(((q >> shift) & 0x0f0f0f0fu) | (((h >> j) & 0x01010101u) << 4u));
}

fn task_dot(wrow: u32, t: u32, x: TaskX) -> f32 {
    let s = t % 8u;
    let b4 = (wrow + (t / 8u) * 44u) / 4u;
    let hdr = W[b4];
    let qh = W[b4 + 1u + s % 2u];
    let q = W[b4 + 3u + s];
    let j = 2u * (s / 2u);
    let m0 = k_scale_min(j, hdr.y, hdr.z, hdr.w);
    let m1 = k_scale_min(j + 1u, hdr.y, hdr.z, hdr.w);
    let lo = dot(q5(q.x, qh.x, 0u, j), x.lo[0]) + dot(q5(q.y, qh.y, 0u, j), x.lo[1])
           + dot(q5(q.z, qh.z, 0u, j), x.lo[2]) + dot(q5(q.w, qh.w, 0u, j), x.lo[3]);
    let hi = dot(q5(q.x, qh.x, 4u, j + 1u), x.hi[0]) + dot(q5(q.y, qh.y, 4u, j + 1u), x.hi[1])
           + dot(q5(q.z, qh.z, 4u, j + 1u), x.hi[2]) + dot(q5(q.w, qh.w, 4u, j + 1u), x.hi[3]);
    let sc = vec2<f32>(small_u32_to_f32(m0.x), small_u32_to_f32(m1.x));
    let mn = vec2<f32>(small_u32_to_f32(m0.y), small_u32_to_f32(m1.y));
    return f16_lo(hdr.x) * (sc.x * lo + sc.y * hi) - f16_hi(hdr.x) * (mn.x * x.slo + mn.y * x.shi);
}
