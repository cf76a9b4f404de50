// mul_mat_vec_reduce_sg.wgsl: matvec entry point reducing with subgroupAdd (device feature
// "subgroup"; naga rejects `enable subgroups;`, so the builtins are used without it).
// Composed after mul_mat_vec.wgsl; see that file for bindings and dispatch.

var<workgroup> red: array<f32, 1024>;  // [subgroup][row]: up to 256 subgroups x ROWS_MAX

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_id) sid: u32,
        @builtin(num_subgroups) nsg: u32) {
    let acc = matvec_partials(wid, nwg, lid);
    for (var r = 0u; r < ROWS_MAX; r++) {
        let s = subgroupAdd(acc[r]);
        if (lane == 0u) { red[sid * ROWS_MAX + r] = s; }
    }
    workgroupBarrier();
    if (lid < ROWS) {
        var total = 0.0;
        for (var i = 0u; i < nsg; i++) { total += red[i * ROWS_MAX + lid]; }
        matvec_store(wid, nwg, lid, total);
    }
}
