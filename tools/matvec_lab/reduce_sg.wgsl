// Lab reduction: subgroupAdd over a 32-lane group (valid where the subgroup size is 32).
fn reduce_write(a0: vec4<f32>, a1: vec4<f32>, row0: u32, lane: u32, lid: u32) {
    let s0 = subgroupAdd(a0);
    var s1 = vec4<f32>(0.0);
    if (R > 4u) { s1 = subgroupAdd(a1); }
    if (lane < R && row0 + lane < P.rows) {
        Y[row0 + lane] = select(s1[lane % 4u], s0[lane % 4u], lane < 4u);
    }
}
