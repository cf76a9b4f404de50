// moe_group.wgsl: group a prefill batch's (token, slot) pairs by expert for the grouped GEMMs
// (mul_mat_q.wgsl, grouped mode), as llama.cpp's mul_mat_id does: counts per expert, prefix
// offsets, a gather list and a tile list, all on the GPU (the CPU never sees the routing).
// Pair p = t * K + s (token t, slot s) uses expert EIDS[p]. Within an expert, pairs keep their
// order p, so the sorted order (and every result built on it) is the same on every run.
//
// Composed after common.wgsl (struct Step).
// Bindings (group 0): 0 EIDS (u32, n_tok * K), 1 MAP (u32, written), 2 S (the Step uniform)
// MAP layout (words): [0] tile count; [TILES + 3i ..] tile i = (expert, j0, j1): sorted slots
//   j0..j1 (at most BN) of one expert, experts in order; [GATHER + j] the pair at sorted slot j.
// Dispatch: (1, 1, 1): one workgroup (E <= MAX_E; the scans are O(E + n_tok * K) per thread).

@group(0) @binding(0) var<storage, read> EIDS: array<u32>;
@group(0) @binding(1) var<storage, read_write> MAP: array<u32>;
@group(0) @binding(2) var<uniform> S: Step;

override E: u32;        // experts
override K: u32;        // slots per token
override BN: u32;       // slots per GEMM tile (mul_mat_q's TX * TN)
override TILES: u32 = 1u;
override GATHER: u32;
const WG: u32 = 256u;
const MAX_E: u32 = 512u;
const STAGE: u32 = 1024u;   // expert ids staged in workgroup memory per pass

var<workgroup> cnt: array<u32, MAX_E>;
var<workgroup> cur: array<u32, MAX_E>;
var<workgroup> ids: array<u32, STAGE>;

fn stage(p0: u32, n: u32, lid: u32) {
    workgroupBarrier();
    for (var i = lid; i < STAGE; i += WG) {
        ids[i] = select(0xffffffffu, EIDS[p0 + i], p0 + i < n);
    }
    workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
    let n = S.n_tok * K;
    for (var e = lid; e < E; e += WG) { cnt[e] = 0u; }
    for (var p0 = 0u; p0 < n; p0 += STAGE) {   // pass 1: pairs per expert
        stage(p0, n, lid);
        let m = min(STAGE, n - p0);
        for (var e = lid; e < E; e += WG) {
            var c = cnt[e];
            for (var i = 0u; i < m; i++) { c += u32(ids[i] == e); }
            cnt[e] = c;
        }
    }
    workgroupBarrier();
    if (lid == 0u) {   // offsets and tiles, experts in order
        var off = 0u;
        var nt = 0u;
        for (var e = 0u; e < E; e++) {
            cur[e] = off;
            let end = off + cnt[e];
            for (var j0 = off; j0 < end; j0 += BN) {
                MAP[TILES + 3u * nt] = e;
                MAP[TILES + 3u * nt + 1u] = j0;
                MAP[TILES + 3u * nt + 2u] = min(j0 + BN, end);
                nt++;
            }
            off = end;
        }
        MAP[0] = nt;
    }
    for (var p0 = 0u; p0 < n; p0 += STAGE) {   // pass 2: each expert's pairs in pair order
        stage(p0, n, lid);
        let m = min(STAGE, n - p0);
        for (var e = lid; e < E; e += WG) {
            var o = cur[e];
            for (var i = 0u; i < m; i++) {
                if (ids[i] == e) {
                    MAP[GATHER + o] = p0 + i;
                    o++;
                }
            }
            cur[e] = o;
        }
    }
}
