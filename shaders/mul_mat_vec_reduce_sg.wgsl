// mul_mat_vec_reduce_sg.wgsl: matvec entry point reducing with subgroupAdd (device feature
// "subgroup"; naga rejects `enable subgroups;`, so the builtins are used without it).
// Composed after mul_mat_vec.wgsl; see that file for bindings and dispatch.

var<workgroup> red: array<f32, 4096>;  // [subgroup][accumulator]: up to 256 subgroups (any size) x ACC

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_id) sid: u32,
        @builtin(num_subgroups) nsg: u32) {
    let acc = matvec_partials(wid, nwg, lid);
    for (var r = 0u; r < ROWS; r++) {
        for (var v = 0u; v < NV; v++) {
            let i = r * NV_MAX + v;
            let s = subgroupAdd(acc[i]);
            if (lane == 0u) { red[sid * ACC + i] = s; }
        }
    }
    workgroupBarrier();
    for (var i = lid; i < ACC; i += WG) {  // a loop: WG may be smaller than ACC
        var total = 0.0;
        for (var g = 0u; g < nsg; g++) { total += red[g * ACC + i]; }
        tot[i] = total;
    }
    workgroupBarrier();
    matvec_write(wid, nwg, lid);
}
