// mul_mat_vec_tasks_q6_k.wgsl: Q6_K tasks for mul_mat_vec_tasks.wgsl (block layout: see
// mul_mat_vec_q6_k.wgsl; padded to 212 B = 53 words: ql 0-31, qh 32-47, scales 48-51, d 52).
// Task t % 8 = (half n, pair p): positions l = 8p..8p+7 of each quadrant qd of half n, 32
// values from 6 weight words (ql bytes n*64 + (qd % 2)*32 + l, nibble qd / 2; qh bytes
// n*32 + l, bits 2*qd), 2 scale words and d: 9 loads per 32 values (20 in the chunk driver).
// Scale of (n, qd, l): byte n*8 + 2*qd + l / 16, i.e. word 48 + 2n + qd / 2, byte
// 2*(qd % 2) + p / 2.

@group(0) @binding(0) var<storage, read> W: array<u32>;

fn w_word(i: u32) -> u32 { return W[i]; }

fn n_tasks(cols: u32) -> u32 { return (cols / 256u) * 8u; }

struct TaskX { v: array<vec4<f32>, 8>, s: vec4<f32> }   // v[2*qd + i]; s[qd]: their sums

fn task_x(xbase: u32, t: u32) -> TaskX {
    let n = (t % 8u) / 4u;
    let xb = (xbase + (t / 8u) * 256u + n * 128u + 8u * (t % 4u)) / 4u;
    var x: TaskX;
    x.v[0] = X[xb]; x.v[1] = X[xb + 1u]; x.v[2] = X[xb + 8u]; x.v[3] = X[xb + 9u];
    x.v[4] = X[xb + 16u]; x.v[5] = X[xb + 17u]; x.v[6] = X[xb + 24u]; x.v[7] = X[xb + 25u];
    let one = vec4<f32>(1.0);
    x.s = vec4<f32>(dot(x.v[0] + x.v[1], one), dot(x.v[2] + x.v[3], one),
                    dot(x.v[4] + x.v[5], one), dot(x.v[6] + x.v[7], one));
    return x;
}

fn q6(lo: u32, hi: u32) -> vec4<f32> { return u8x4(lo | (hi << 4u)); }

fn task_dot(wrow: u32, t: u32, x: TaskX) -> f32 {
    let n = (t % 8u) / 4u;
    let p = t % 4u;
    let base = wrow + (t / 8u) * 53u;
    let a0 = W[base + n * 16u + 2u * p];
    let a1 = W[base + n * 16u + 2u * p + 1u];
    let b0 = W[base + n * 16u + 8u + 2u * p];
    let b1 = W[base + n * 16u + 8u + 2u * p + 1u];
    let h0 = W[base + 32u + n * 8u + 2u * p];
    let h1 = W[base + 32u + n * 8u + 2u * p + 1u];
    let s01 = W[base + 48u + 2u * n];
    let s23 = W[base + 49u + 2u * n];
    let k = 0x0f0f0f0fu;
    let m = 0x03030303u;
    let d0 = dot(q6(a0 & k, h0 & m), x.v[0]) + dot(q6(a1 & k, h1 & m), x.v[1]);
    let d1 = dot(q6(b0 & k, (h0 >> 2u) & m), x.v[2]) + dot(q6(b1 & k, (h1 >> 2u) & m), x.v[3]);
    let d2 = dot(q6((a0 >> 4u) & k, (h0 >> 4u) & m), x.v[4])
           + dot(q6((a1 >> 4u) & k, (h1 >> 4u) & m), x.v[5]);
    let d3 = dot(q6((b0 >> 4u) & k, (h0 >> 6u) & m), x.v[6])
           + dot(q6((b1 >> 4u) & k, (h1 >> 6u) & m), x.v[7]);
    let hh = p / 2u;
    let sc = vec4<f32>(f32(sbyte_of(s01, hh)), f32(sbyte_of(s01, 2u + hh)),
                       f32(sbyte_of(s23, hh)), f32(sbyte_of(s23, 2u + hh)));
    let dq = vec4<f32>(d0, d1, d2, d3) - 32.0 * x.s;
    return f16_lo(W[base + 52u]) * dot(sc, dq);
}
