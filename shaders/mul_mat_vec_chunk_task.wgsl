// mul_mat_vec_chunk_task.wgsl: one 16-value chunk as the decode task (driver:
// mul_mat_vec.wgsl), for families without a wider task of their own (F32, F16, BF16, Q8_0,
// Q5_K). Composed after the family file.

const TASK: u32 = 1u;

fn task_x(t: u32, i: u32) -> u32 { return 16u * t + 4u * i; }

fn task_dot(wrow: u32, t: u32, xs: array<vec4<f32>, 16>) -> f32 {
    let x4 = array<vec4<f32>, 4>(xs[0], xs[1], xs[2], xs[3]);
    return chunk_dot(wrow, t, x4, sum16(x4));
}
