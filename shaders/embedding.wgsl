// Embedding lookup on the GPU: x[t] = token_embd[tok[t]] (no scaling; docs/reference.md §1 step 1),
// decoded from the raw blocks with the matvec family's own `chunk_dot`: the dot of a 16-value
// chunk with a one-hot vector is that value, so every qtype with a matvec kernel can be looked up
// without a second copy of its decoder. 16 chunk_dots per chunk: one row per token, cheap.
// Composed as: common + mul_mat_vec_params + mul_mat_vec (bindings) + mul_mat_vec_<qtype> + embedding.
// Bindings: mul_mat_vec.wgsl's: 0 W (this piece of token_embd), 1 X (unused), 2 Y (x stream,
//   T*cols), 3 IDS (token ids, u32), 4 P (rows and row0 = y_offset of this piece, cols, row_words).
// Dispatch: (ceil(n_chunks / EMBED_WG), T, 1). A token whose row is in another piece is skipped.
// Matches backends.gguf_model rows() / quants.dequantize of that row.

override EMBED_WG: u32 = 64u;   // chunks per workgroup (backends.wgpu.tuning.EMBEDDING_WG)

@compute @workgroup_size(EMBED_WG)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let t = gid.y;
    let row = IDS[t];
    if (c >= n_chunks(P.cols) || row < P.y_offset || row >= P.y_offset + P.rows) { return; }
    let wrow = (row - P.y_offset) * P.row_words;
    let zero = vec4<f32>(0.0, 0.0, 0.0, 0.0);
    for (var j = 0u; j < 16u; j++) {
        let col = c * 16u + j;
        if (col >= P.cols) { break; }
        var xs = array<vec4<f32>, 4>(zero, zero, zero, zero);
        xs[j / 4u][j % 4u] = 1.0;
        Y[t * P.cols + col] = chunk_dot(wrow, c, xs, 1.0);
    }
}
