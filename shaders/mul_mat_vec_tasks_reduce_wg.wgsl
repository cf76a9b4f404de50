// mul_mat_vec_tasks_reduce_wg.wgsl: group sums through workgroup memory, any subgroup size
// (or none). Lane r < R of a group adds row r over the group's 32 lanes in lane order; every
// lane then reads all R sums (the SwiGLU epilogue needs two rows in one lane).
// Composed after mul_mat_vec_tasks.wgsl.

var<workgroup> red: array<vec4<f32>, 512>;   // 2 per invocation: GROUPS <= 8
var<workgroup> sums: array<vec4<f32>, 16>;   // 2 per group

fn group_sums(a: array<vec4<f32>, 2>, lane: u32, lid: u32) -> array<vec4<f32>, 2> {
    red[2u * lid] = a[0];
    red[2u * lid + 1u] = a[1];
    workgroupBarrier();
    let g = lid / 32u;
    if (lane < R) {
        let base = lid - lane;
        var tot = 0.0;
        for (var l = 0u; l < 32u; l++) {
            tot += red[2u * (base + l) + lane / 4u][lane % 4u];
        }
        sums[2u * g + lane / 4u][lane % 4u] = tot;
    }
    workgroupBarrier();
    var s: array<vec4<f32>, 2>;
    s[0] = sums[2u * g];
    s[1] = sums[2u * g + 1u];
    return s;
}
