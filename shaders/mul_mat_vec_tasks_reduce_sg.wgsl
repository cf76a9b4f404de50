// mul_mat_vec_tasks_reduce_sg.wgsl: group sums by subgroupAdd, for adapters whose subgroups are
// exactly 32 lanes (one 32-lane group = one subgroup; backends.wgpu.matvec checks the size).
// Composed after mul_mat_vec_tasks.wgsl.

fn group_sums(a: array<vec4<f32>, 2>, lane: u32, lid: u32) -> array<vec4<f32>, 2> {
    var s: array<vec4<f32>, 2>;
    s[0] = subgroupAdd(a[0]);
    if (R > 4u) { s[1] = subgroupAdd(a[1]); }
    return s;
}
