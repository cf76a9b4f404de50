// mul_mat_vec_reduce_wg.wgsl: matvec entry point reducing through workgroup memory (a tree),
// for devices without the "subgroup" feature. Composed after mul_mat_vec.wgsl; see that file
// for bindings and dispatch. WG must be a power of two <= 256.

var<workgroup> red: array<f32, 1024>;  // [row][thread]: ROWS_MAX x 256

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let acc = matvec_partials(wid, nwg, lid);
    for (var r = 0u; r < ROWS_MAX; r++) { red[r * WG + lid] = acc[r]; }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] += red[r * WG + lid + s]; }
        }
        workgroupBarrier();
    }
    if (lid < ROWS) { matvec_store(wid, nwg, lid, red[lid * WG]); }
}
