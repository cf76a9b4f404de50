// mul_mat_vec_reduce_sg.wgsl: matvec entry point reducing with subgroupAdd (device feature
// "subgroup"; naga rejects `enable subgroups;`, so the builtins are used without it).
// Composed after mul_mat_vec.wgsl; see that file for bindings and dispatch.

// [subgroup][used accumulator j = r * NV + v]; sized for subgroups of any size (>= 1).
var<workgroup> red: array<f32, WG * ROWS * NV>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_id) sid: u32,
        @builtin(num_subgroups) nsg: u32) {
    let acc = matvec_partials(wid, nwg, lid);
    let used = ROWS * NV;
    for (var j = 0u; j < used; j++) {
        let s = subgroupAdd(acc[(j / NV) * NV_MAX + j % NV]);
        if (lane == 0u) { red[sid * used + j] = s; }
    }
    workgroupBarrier();
    for (var j = lid; j < used; j += WG) {  // a loop: WG may be smaller than ROWS * NV
        var total = 0.0;
        for (var g = 0u; g < nsg; g++) { total += red[g * used + j]; }
        tot[(j / NV) * NV_MAX + j % NV] = total;
    }
    workgroupBarrier();
    matvec_write(wid, nwg, lid);
}
