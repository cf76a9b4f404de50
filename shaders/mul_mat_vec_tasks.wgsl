// mul_mat_vec_tasks.wgsl: single-vector matvec driver for K-quant families (decode), y = W·x.
// Composed as: common + mul_mat_vec_params + mul_mat_vec_tasks + mul_mat_vec_tasks_reduce_{sg,wg}
// + mul_mat_vec_tasks_<qtype>.
// A 32-lane group owns R consecutive rows; a "task" is a family-defined slice of one block
// (32 values fed by one 16-byte nibble load for Q4_K) and lane l takes tasks l, l + 32, ...;
// the inputs a task needs are loaded once and used for all R rows. Each group reduces its own
// rows (subgroupAdd where the subgroup is exactly 32 lanes, else workgroup memory), so there is
// no cross-group barrier. Why this shape: docs/perf.md session 3 step 26 (2.4x the old
// 16-value chunk driver on the Q6_K head, 1.4x on the gate/up, H200).
// The family supplies: struct TaskX, n_tasks(cols), task_x(xbase, t) -> TaskX (xbase: the
// slot's first input, in floats, a multiple of 4), task_dot(wrow, t, x) -> f32 (wrow: first
// word of the row in W).
// CPU function it must match: backends.cpu.ops.matvec (dequantize(row) @ x).
//
// Bindings (group 0), as mul_mat_vec.wgsl: 0 W (family-declared), 1 X (vec4<f32>),
//   2 Y (f32), 3 IDS (u32 expert per slot), 4 P (MatvecParams, uniform).
// Dispatch: x*z = ceil(rows / (R * GROUPS)) row groups (z > 1 past 65535), y = slot.

@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read> IDS: array<u32>;
@group(0) @binding(4) var<uniform> P: MatvecParams;

override R: u32 = 4u;          // rows per 32-lane group, 1..8 (even with SWIGLU)
override GROUPS: u32 = 1u;     // 32-lane groups per workgroup, 1..8
override DROP_LAST: u32 = 0u;  // fault reduction_drops_last: the last task contributes nothing
override SWIGLU: u32 = 0u;     // 1: rows interleave gate/up (2i, 2i+1); y[i] = silu(gate)·up

fn silu(g: f32) -> f32 {
    return g / (1.0 + exp(-g));
}

fn rows_add(a: ptr<function, array<vec4<f32>, 2>>, wrow: u32, row0: u32, t: u32, x: TaskX) {
    // constant indices only: a loop over rows indexing an array may go to local memory
    (*a)[0].x += task_dot(wrow, t, x);
    if (R > 1u && row0 + 1u < P.rows) { (*a)[0].y += task_dot(wrow + P.row_words, t, x); }
    if (R > 2u && row0 + 2u < P.rows) { (*a)[0].z += task_dot(wrow + 2u * P.row_words, t, x); }
    if (R > 3u && row0 + 3u < P.rows) { (*a)[0].w += task_dot(wrow + 3u * P.row_words, t, x); }
    if (R > 4u && row0 + 4u < P.rows) { (*a)[1].x += task_dot(wrow + 4u * P.row_words, t, x); }
    if (R > 5u && row0 + 5u < P.rows) { (*a)[1].y += task_dot(wrow + 5u * P.row_words, t, x); }
    if (R > 6u && row0 + 6u < P.rows) { (*a)[1].z += task_dot(wrow + 6u * P.row_words, t, x); }
    if (R > 7u && row0 + 7u < P.rows) { (*a)[1].w += task_dot(wrow + 7u * P.row_words, t, x); }
}

@compute @workgroup_size(32 * GROUPS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let lane = lid % 32u;
    let row0 = ((wid.x + wid.z * nwg.x) * GROUPS + lid / 32u) * R;
    let slot = wid.y;
    var e = P.e0;
    if (P.use_ids != 0u) { e = IDS[slot]; }
    let live = e >= P.e0 && e < P.e1 && row0 < P.rows && (P.max_slots == 0u || slot < P.max_slots);
    var a: array<vec4<f32>, 2>;
    let nt = n_tasks(P.cols);
    if (live) {
        let wrow = (e - P.e0) * P.expert_words + row0 * P.row_words;
        let xbase = (slot / max(P.x_group, 1u)) * P.x_stride;
        for (var t = lane; t < nt; t += 32u) {
            rows_add(&a, wrow, row0, t, task_x(xbase, t));
        }
    }
    if (DROP_LAST != 0u && lane == (nt - 1u) % 32u) {   // planted bug (mutation suite)
        a[0] = vec4<f32>(0.0);
        a[1] = vec4<f32>(0.0);
    }
    let s = group_sums(a, lane, lid);   // valid in lanes < R
    if (!live) { return; }
    if (SWIGLU != 0u) {
        let r = 2u * lane;
        if (r + 1u < R && row0 + r + 1u < P.rows) {
            let o = slot * P.y_stride + (P.y_offset + row0 + r) / 2u;
            Y[o] = silu(s[r / 4u][r % 4u]) * s[(r + 1u) / 4u][(r + 1u) % 4u];
        }
    } else if (lane < R && row0 + lane < P.rows) {
        Y[slot * P.y_stride + P.y_offset + row0 + lane] = s[lane / 4u][lane % 4u];
    }
}
