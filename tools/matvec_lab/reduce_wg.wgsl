// Lab reduction: workgroup memory, any subgroup size.
var<workgroup> red: array<vec4<f32>, 512>;   // 2 per lane: GROUPS <= 8

fn reduce_write(a0: vec4<f32>, a1: vec4<f32>, row0: u32, lane: u32, lid: u32) {
    red[2u * lid] = a0;
    red[2u * lid + 1u] = a1;
    workgroupBarrier();
    let base = lid - lane;
    if (lane < R && row0 + lane < P.rows) {
        var tot = 0.0;
        for (var l = 0u; l < 32u; l++) {
            tot += red[2u * (base + l) + lane / 4u][lane % 4u];
        }
        Y[row0 + lane] = tot;
    }
}
