// Lab kernel (tools/matvec_lab): Q4_K single-vector matvec, one 32-lane group per R rows.
// A task is 16 bytes of one block's nibbles = 32 values in two sub-blocks (low nibbles: sub-block
// 2g, high: 2g+1), so a block is 8 tasks and one vec4 load of nibbles feeds 32 values.
// Bindings: 0 W (vec4<u32>, 144 B blocks), 1 X (vec4<f32>), 2 Y (f32), 3 P (uniform).

struct Params { rows: u32, cols: u32, row_words: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> W: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

override R: u32 = 4u;        // rows per 32-lane group, 1..8
override GROUPS: u32 = 1u;   // 32-lane groups per workgroup
override SG: u32 = 1u;       // 1: subgroupAdd (subgroup size 32); 0: workgroup-memory reduction

const MAGIC_BITS: u32 = 0x4B000000u;
const MAGIC: f32 = 8388608.0;

fn u8x4(w: u32) -> vec4<f32> {
    let b = vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u);
    return bitcast<vec4<f32>>(b | vec4<u32>(MAGIC_BITS)) - vec4<f32>(MAGIC);
}

fn bytev(w: u32, i: u32) -> u32 { return (w >> (8u * i)) & 0xffu; }

// 6-bit scale and min of sub-block j (llama.cpp get_scale_min_k4), as floats.
fn scale_min(j: u32, s0: u32, s1: u32, s2: u32) -> vec2<f32> {
    let jj = j % 4u;
    let low = vec2<u32>(bytev(s0, jj) & 63u, bytev(s1, jj) & 63u);
    let lo = bytev(s2, jj);
    let high = vec2<u32>((lo & 15u) | ((bytev(s0, jj) >> 6u) << 4u),
                         (lo >> 4u) | ((bytev(s1, jj) >> 6u) << 4u));
    return vec2<f32>(select(high, low, j < 4u));
}

struct Xs { l0: vec4<f32>, l1: vec4<f32>, l2: vec4<f32>, l3: vec4<f32>,
            h0: vec4<f32>, h1: vec4<f32>, h2: vec4<f32>, h3: vec4<f32>, sl: f32, sh: f32 }

fn row_task(row: u32, b: u32, s: u32, x: Xs) -> f32 {
    if (row >= P.rows) { return 0.0; }
    let wb = (row * P.row_words + b * 36u) / 4u;
    let hdr = W[wb];
    let q = W[wb + 1u + s];
    let dm = unpack2x16float(hdr.x);
    let g = s / 2u;
    let m0 = scale_min(2u * g, hdr.y, hdr.z, hdr.w);
    let m1 = scale_min(2u * g + 1u, hdr.y, hdr.z, hdr.w);
    let k = 0x0f0f0f0fu;
    let lo = dot(u8x4(q.x & k), x.l0) + dot(u8x4(q.y & k), x.l1)
           + dot(u8x4(q.z & k), x.l2) + dot(u8x4(q.w & k), x.l3);
    let hi = dot(u8x4((q.x >> 4u) & k), x.h0) + dot(u8x4((q.y >> 4u) & k), x.h1)
           + dot(u8x4((q.z >> 4u) & k), x.h2) + dot(u8x4((q.w >> 4u) & k), x.h3);
    return dm.x * (m0.x * lo + m1.x * hi) - dm.y * (m0.y * x.sl + m1.y * x.sh);
}

@compute @workgroup_size(32 * GROUPS)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let grp = lid / 32u;
    let lane = lid % 32u;
    let row0 = ((wid.x + wid.y * nwg.x) * GROUPS + grp) * R;
    let ntasks = (P.cols / 256u) * 8u;
    var a0 = vec4<f32>(0.0);
    var a1 = vec4<f32>(0.0);
    let one = vec4<f32>(1.0);
    for (var t = lane; t < ntasks; t += 32u) {
        let b = t / 8u;
        let s = t % 8u;
        let xb = (b * 256u + (s / 2u) * 64u + (s % 2u) * 16u) / 4u;
        var x: Xs;
        x.l0 = X[xb]; x.l1 = X[xb + 1u]; x.l2 = X[xb + 2u]; x.l3 = X[xb + 3u];
        x.h0 = X[xb + 8u]; x.h1 = X[xb + 9u]; x.h2 = X[xb + 10u]; x.h3 = X[xb + 11u];
        x.sl = dot(x.l0 + x.l1 + x.l2 + x.l3, one);
        x.sh = dot(x.h0 + x.h1 + x.h2 + x.h3, one);
        a0.x += row_task(row0, b, s, x);
        if (R > 1u) { a0.y += row_task(row0 + 1u, b, s, x); }
        if (R > 2u) { a0.z += row_task(row0 + 2u, b, s, x); }
        if (R > 3u) { a0.w += row_task(row0 + 3u, b, s, x); }
        if (R > 4u) { a1.x += row_task(row0 + 4u, b, s, x); }
        if (R > 5u) { a1.y += row_task(row0 + 5u, b, s, x); }
        if (R > 6u) { a1.z += row_task(row0 + 6u, b, s, x); }
        if (R > 7u) { a1.w += row_task(row0 + 7u, b, s, x); }
    }
    reduce_write(a0, a1, row0, lane, lid);
}
