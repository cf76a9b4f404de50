// mul_mat_vec_reduce_wg.wgsl: matvec entry point reducing through workgroup memory (a tree),
// for devices without the "subgroup" feature. Composed after mul_mat_vec.wgsl; see that file
// for bindings and dispatch. WG must be a power of two; the scratch is ROWS * NV * WG floats
// (the host keeps it <= 8 KiB, half the WebGPU default workgroup-storage limit).

var<workgroup> red: array<f32, WG * ROWS * NV>;  // [used accumulator j = r * NV + v][thread]

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let acc = matvec_partials(wid, nwg, lid);
    let used = ROWS * NV;
    for (var j = 0u; j < used; j++) { red[j * WG + lid] = acc[(j / NV) * NV_MAX + j % NV]; }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            for (var j = 0u; j < used; j++) { red[j * WG + lid] += red[j * WG + lid + s]; }
        }
        workgroupBarrier();
    }
    for (var j = lid; j < used; j += WG) { tot[(j / NV) * NV_MAX + j % NV] = red[j * WG]; }
    workgroupBarrier();
    matvec_write(wid, nwg, lid);
}
