// Lab kernel (tools/matvec_lab): Q6_K single-vector matvec, one 32-lane group per R rows.
// Blocks padded to 212 B = 53 words: ql words 0-31, qh 32-47, scales 48-51, d (f16) word 52.
// A task is (half n, positions 8p..8p+7) of one block = 32 values, one per quadrant qd and
// position: ql byte n*64 + (qd%2)*32 + l (nibble qd/2), qh byte n*32 + l (bits 2*qd); so a
// block is 8 tasks of 6 weight words + 2 scale words + d (20 loads per 32 values before).
// Bindings: 0 W (u32), 1 X (vec4<f32>), 2 Y (f32), 3 P (uniform).

struct Params { rows: u32, cols: u32, row_words: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> W: array<u32>;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

override R: u32 = 4u;
override GROUPS: u32 = 1u;
override SG: u32 = 1u;

const MAGIC_BITS: u32 = 0x4B000000u;
const MAGIC: f32 = 8388608.0;

fn u8x4(w: u32) -> vec4<f32> {
    let b = vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u);
    return bitcast<vec4<f32>>(b | vec4<u32>(MAGIC_BITS)) - vec4<f32>(MAGIC);
}

// int8 byte i of w as f32
fn sb(w: u32, i: u32) -> f32 { return f32((bitcast<i32>(w << (24u - 8u * i))) >> 24u); }

struct Xs { q0a: vec4<f32>, q0b: vec4<f32>, q1a: vec4<f32>, q1b: vec4<f32>,
            q2a: vec4<f32>, q2b: vec4<f32>, q3a: vec4<f32>, q3b: vec4<f32>,
            s0: f32, s1: f32, s2: f32, s3: f32 }

fn quad(lo_a: u32, lo_b: u32, hi_a: u32, hi_b: u32, xa: vec4<f32>, xb: vec4<f32>) -> f32 {
    return dot(u8x4(lo_a | hi_a), xa) + dot(u8x4(lo_b | hi_b), xb);
}

fn row_task(row: u32, b: u32, n: u32, p: u32, x: Xs) -> f32 {
    if (row >= P.rows) { return 0.0; }
    let base = row * P.row_words + b * 53u;
    let k = 0x0f0f0f0fu;
    let h = 0x03030303u;
    let la0 = W[base + n * 16u + 2u * p];
    let la1 = W[base + n * 16u + 2u * p + 1u];
    let lb0 = W[base + n * 16u + 8u + 2u * p];
    let lb1 = W[base + n * 16u + 8u + 2u * p + 1u];
    let q0 = W[base + 32u + n * 8u + 2u * p];
    let q1 = W[base + 32u + n * 8u + 2u * p + 1u];
    let sw0 = W[base + 48u + 2u * n];
    let sw1 = W[base + 49u + 2u * n];
    let d = unpack2x16float(W[base + 52u]).x;
    let hh = p / 2u;   // positions 8p..8p+7: the first or second 16 of the quadrant
    // scale index n*8 + qd*2 + hh: quadrants 0,1 in word sw0 (bytes hh, 2+hh), 2,3 in sw1
    let d0 = quad(la0 & k, la1 & k, (q0 & h) << 4u, (q1 & h) << 4u, x.q0a, x.q0b);
    let d1 = quad(lb0 & k, lb1 & k, ((q0 >> 2u) & h) << 4u, ((q1 >> 2u) & h) << 4u, x.q1a, x.q1b);
    let d2 = quad((la0 >> 4u) & k, (la1 >> 4u) & k, ((q0 >> 4u) & h) << 4u, ((q1 >> 4u) & h) << 4u,
                  x.q2a, x.q2b);
    let d3 = quad((lb0 >> 4u) & k, (lb1 >> 4u) & k, ((q0 >> 6u) & h) << 4u, ((q1 >> 6u) & h) << 4u,
                  x.q3a, x.q3b);
    let t = sb(sw0, hh) * (d0 - 32.0 * x.s0) + sb(sw0, 2u + hh) * (d1 - 32.0 * x.s1)
          + sb(sw1, hh) * (d2 - 32.0 * x.s2) + sb(sw1, 2u + hh) * (d3 - 32.0 * x.s3);
    return d * t;
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
        let n = (t % 8u) / 4u;
        let p = t % 4u;
        let xb = (b * 256u + n * 128u + 8u * p) / 4u;
        var x: Xs;
        x.q0a = X[xb]; x.q0b = X[xb + 1u];
        x.q1a = X[xb + 8u]; x.q1b = X[xb + 9u];
        x.q2a = X[xb + 16u]; x.q2b = X[xb + 17u];
        x.q3a = X[xb + 24u]; x.q3b = X[xb + 25u];
        x.s0 = dot(x.q0a + x.q0b, one); x.s1 = dot(x.q1a + x.q1b, one);
        x.s2 = dot(x.q2a + x.q2b, one); x.s3 = dot(x.q3a + x.q3b, one);
        a0.x += row_task(row0, b, n, p, x);
        if (R > 1u) { a0.y += row_task(row0 + 1u, b, n, p, x); }
        if (R > 2u) { a0.z += row_task(row0 + 2u, b, n, p, x); }
        if (R > 3u) { a0.w += row_task(row0 + 3u, b, n, p, x); }
        if (R > 4u) { a1.x += row_task(row0 + 4u, b, n, p, x); }
        if (R > 5u) { a1.y += row_task(row0 + 5u, b, n, p, x); }
        if (R > 6u) { a1.z += row_task(row0 + 6u, b, n, p, x); }
        if (R > 7u) { a1.w += row_task(row0 + 7u, b, n, p, x); }
    }
    reduce_write(a0, a1, row0, lane, lid);
}
