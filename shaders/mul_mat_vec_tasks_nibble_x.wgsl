// mul_mat_vec_tasks_nibble_x.wgsl: the inputs of a task in the Q4_K / Q5_K nibble layout, for
// mul_mat_vec_tasks.wgsl (composed before mul_mat_vec_tasks_q4_k / _q5_k). Task t = nibble
// vec4 s = t % 8 of block t / 8: positions 16*(s % 2).. +15 of sub-blocks 2*(s / 2) (lo) and
// 2*(s / 2) + 1 (hi), with each half's input sum for the min term.

fn n_tasks(cols: u32) -> u32 { return (cols / 256u) * 8u; }

struct TaskX { lo: array<vec4<f32>, 4>, hi: array<vec4<f32>, 4>, slo: f32, shi: f32 }

fn task_x(xbase: u32, t: u32) -> TaskX {
    let s = t % 8u;
    let xb = (xbase + (t / 8u) * 256u + (s / 2u) * 64u + (s % 2u) * 16u) / 4u;
    var x: TaskX;
    x.lo[0] = X[xb]; x.lo[1] = X[xb + 1u]; x.lo[2] = X[xb + 2u]; x.lo[3] = X[xb + 3u];
    x.hi[0] = X[xb + 8u]; x.hi[1] = X[xb + 9u]; x.hi[2] = X[xb + 10u]; x.hi[3] = X[xb + 11u];
    let one = vec4<f32>(1.0);
    x.slo = dot(x.lo[0] + x.lo[1] + x.lo[2] + x.lo[3], one);
    x.shi = dot(x.hi[0] + x.hi[1] + x.hi[2] + x.hi[3], one);
    return x;
}
