// mul_mat_vec_params.wgsl: the uniform every matvec driver reads (mul_mat_vec.wgsl,
// mul_mat_vec_tasks.wgsl); backends.wgpu.matvec._params fills it in this order.

struct MatvecParams {
    rows: u32,          // rows in this piece
    cols: u32,          // values per row
    row_words: u32,     // u32 words per repacked row
    expert_words: u32,  // words per expert in this piece (0 for 2-D tensors)
    x_stride: u32,      // floats between consecutive slots' inputs (0: one shared input)
    y_stride: u32,      // floats between consecutive slots' outputs
    y_offset: u32,      // output index of this piece's first row
    e0: u32,            // first expert held by this piece
    e1: u32,            // one past the last expert held
    use_ids: u32,       // 1: slot s uses expert IDS[s]; 0: expert e0
    max_slots: u32,     // slots y can hold (0: no limit); bounds the NV > 1 tail
    x_group: u32,       // consecutive slots sharing one input (0 or 1: one input per slot);
                        // e.g. K expert slots of one token: x = X[(slot / K) * x_stride ..]
}
