"""The Qwen3-MoE forward on the GPU: every buffer, pipeline and bind group built at load, one
command submission per step (docs/reference.md §1 maths, §5 design).

A step processes n_tok tokens at positions pos0.. (prefill chunk or one decode token). Per layer:

    q/k/v matvec (one per run of consecutive tensors sharing a type: q|k|v, or q|k and v)
    · qk_norm_rope_kv · attn_partial
    · attn_reduce · o matvec · residual_rms_norm (x += o; ffn_norm) · router matvec (F32)
    · router_topk (softmax, top-k over the logits)
    · fused gate/up/SwiGLU matvec (expert ids from the router's GPU buffer) · down matvec
    · residual_rms_norm (x += Σ w·down; the next layer's attn_norm, or output_norm)

after embedding + layer 0's attn_norm, and before the output matvec (token_embd when tied) and
argmax (two dispatches): 11 dispatches per layer (12 where v's type differs) + 5. Decode steps
(one token) skip qk_norm_rope_kv: their attn_partial (attention_decode.wgsl, FUSED) normalises and rotates
q / k from the raw projections and writes the cache row itself. The token ids live in a
GPU buffer: decode/prefill write them with queue.write_buffer, generate lets argmax write the
next one, so no readback happens inside a step. While the GPU runs a step, the CPU encodes the
next decode step's command buffer (it depends only on the position), hiding the Python encode.
Per-step scalars go through the 16-byte step uniform. The SwiGLU falls back to two matvecs +
moe_expert_swiglu where gate/up types differ.

Steps of several tokens (prefill, up to DEFAULT_PREFILL_CHUNK per submission) run the batched
path instead (backends.wgpu.gemm, backends.wgpu.prefill): every projection as a tiled
dequant-GEMM (mul_mat_q.wgsl: each weight block decoded once per tile of tokens), attention
flash style where the head dims fit (attention_prefill.wgsl), and the MoE grouped by expert
(moe_group.wgsl, one grouped GEMM for gate/up + SwiGLU and one for down that writes back in
(token, slot) order, so the same residual_rms_norm sums Σ w·down in slot order).
step(logits=False) runs the head for the last position alone.

    forward_qwen3_moe_wgpu(model, tokens, ...) -> (T, V) logits   one-shot helper (tests, tools)

This module holds the schedule and the buffers; the kernels are built by one module per family
(attention, norms, head, matvec, moe + moe_kernels), launch shapes come from tuning.
"""

from __future__ import annotations

import numpy as np

from backends.wgpu import attention as attn
from backends.wgpu import head, norms
from backends.wgpu.runtime import Kernels, kernels_for
from backends.wgpu.matvec import MATVEC_LAYOUT
from backends.wgpu.weights import FAMILY_FILES
from backends.wgpu.gemm import build_gemm
from backends.wgpu.graph_buffers import allocate, tokens_fitting
from backends.wgpu.moe import expert_ops, router_ops, token_matvec
from backends.wgpu.op import ByTokens, StepPlan, one_or_many, step_bytes
from backends.wgpu.prefill import ExpertGroups, flash_attention_fits, flash_attention_op, grouped_expert_ops
from backends.wgpu.trace import TraceCapture
from backends.wgpu.tuning import ATTN_SPLIT_DECODE, DEFAULT_PREFILL_CHUNK
from backends.wgpu.weights import upload_raw, upload_tensor

GPU_FAULTS = frozenset(
    {
        "rope_theta_10k",
        "skip_qk_norm",
        "no_renormalise",
        "softmax_after_topk",
        "gqa_off_by_one",
        "kv_f16",
        "expert_offset",
        "reduction_drops_last",
    }
)


def _f32(model, name: str) -> np.ndarray:
    info = model.tensors[name]
    return np.ascontiguousarray(
        model.rows(name, 0, 1)[0] if len(info.shape) == 1 else model.rows(name, 0, info.shape[0]), np.float32
    )


class Qwen3MoeGraph:
    """All GPU state of one model: weights, KV cache, scratch, and the step's op list."""

    def __init__(
        self,
        model,
        k: Kernels | None = None,
        *,
        faults=frozenset(),
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
        max_context: int | None = None,
    ):
        unknown = sorted(set(faults) - GPU_FAULTS)
        if unknown:
            raise NotImplementedError(f"wgpu backend does not implement fault(s) {unknown}")
        self.k, self.model, self.cfg, self.faults = k or kernels_for(), model, model.config, faults
        before, wbefore = self.k.counters.bytes_allocated, self.k.counters.weight_bytes
        self.ctx = min(self.cfg.context_length, max_context or self.cfg.context_length)
        c = self.cfg  # prefill attention: flash style where the head dims fit its kernel
        self.flash = flash_attention_fits(self.k, c.n_head, c.n_head_kv, c.head_dim, c.value_dim)
        self.tmax = min(prefill_chunk, self.ctx, tokens_fitting(self.k, c, self.ctx, self.flash))
        self.buf, self.kv = allocate(self.k, c, self.ctx, self.tmax, self.flash, faults)
        self.groups = ExpertGroups(self.k, self.buf["eids"], self.buf["step"], c.n_expert, c.n_expert_used, self.tmax)
        # f32 norm vectors, uploaded once (a norm is read by two layers' kernels);
        # the q/k norms go up as one [q_norm | k_norm] vector in _attention_block
        self.vecs = {
            n: self.k.upload(_f32(model, n), label=n, weight=True)
            for n in model.tensors
            if n.endswith(("attn_norm.weight", "ffn_norm.weight", "output_norm.weight"))
        }
        self.layer_ops = [self._layer(i) for i in range(self.cfg.n_layer)]
        self.head_ops = self._head()
        self.embed_ops = self._embedding()
        self.trace = TraceCapture(self.k, self.cfg, self.tmax)
        self._plain, self._traced = self.ops(), self.ops(traced=True)
        self._plain_last = self.ops(last_only=True)
        self._plans: dict = {}  # n_tok (or (n_tok, "last")) -> StepPlan
        self._ahead = None  # ((pos0, n_tok), Batch) encoded during the previous step
        self.nbytes = self.k.counters.bytes_allocated - before  # weights + KV + scratch
        self.weight_nbytes = self.k.counters.weight_bytes - wbefore  # blocks as uploaded

    # -- op list -------------------------------------------------------------------------------
    def _mv(self, name: str, x, y, *, x_stride: int, tensor=None):
        """y = W·x for the step's token rows: a matvec for decode steps, the tiled GEMM for
        steps of several tokens (backends.wgpu.moe.token_matvec)."""
        t = tensor or upload_tensor(self.k, self.model, name)
        return token_matvec(
            self.k, t, x, y, x_stride=x_stride, faults=self.faults, tmax=self.tmax, step=self.buf["step"]
        )

    def _layer(self, i: int) -> list:
        c, b = self.cfg, self.buf
        first = (
            [
                norms.rms_norm_op(
                    self.k, b["x"], self.vecs["blk.0.attn_norm.weight"], b["h"], b["step"], c.n_embd, c.rms_eps
                )
            ]
            if i == 0
            else []
        )
        return first + self._attention_block(i) + ["hidden_attn"] + self._moe_block(i) + ["hidden"]

    def _qkv(self, i: int) -> tuple[list, dict, dict]:
        """q, k, v projections: ONE matvec per run of consecutive tensors sharing a type (q|k|v
        when all three do; q|k and v when only v differs, as in Q4_K_M files where v is Q6_K in
        half the layers); each fused output (T, widths...) is read by qk_norm_rope_kv at
        offsets. Returns (ops, source buffers, layout for qk_norm_rope_kv_op)."""
        k, b, H = self.k, self.buf, self.cfg.n_embd
        names = [f"blk.{i}.attn_{n}.weight" for n in "qkv"]
        infos = [self.model.tensors[n] for n in names]
        kind = [(t.qtype, t.n_cols) for t in infos]
        runs = [[0]]
        for j in (1, 2):
            if kind[j] == kind[j - 1]:
                runs[-1].append(j)
            else:
                runs.append([j])
        ops, srcs, offsets, strides = [], [None] * 3, [0] * 3, [0] * 3
        for r, run in enumerate(runs):
            widths = [infos[j].shape[0] for j in run]
            if len(run) == 1:
                t = upload_tensor(k, self.model, names[run[0]])
            else:
                raw = np.concatenate([self.model.raw(names[j]) for j in run], axis=0)
                t = upload_raw(
                    k, f"blk.{i}.attn_" + "".join("qkv"[j] for j in run), infos[run[0]].qtype, raw, infos[run[0]].n_cols
                )
            y = self._scratch("qkv" if r == 0 else f"qkv{r}", self.buf["qkv"].size)
            ops.append(self._mv(t.name, b["h"], y, x_stride=H, tensor=t))
            for pos, j in enumerate(run):
                srcs[j], offsets[j], strides[j] = y, sum(widths[:pos]), sum(widths)
        layout = {"offsets": tuple(offsets), "strides": tuple(strides)}
        return ops, dict(zip(("q_src", "k_src", "v_src"), srcs)), layout

    def _scratch(self, name: str, nbytes: int):
        """A scratch buffer shared by every layer, allocated on first use."""
        if name not in self.buf:
            self.buf[name] = self.k.buffer(nbytes, label=name)
        return self.buf[name]

    def _attention_block(self, i: int) -> list:
        """q,k,v · q/k norm + RoPE + cache write · attention · o · router (x += o, ffn_norm)."""
        c, k, b, p = self.cfg, self.k, self.buf, f"blk.{i}."
        kc, vc = self.kv[i]
        proj, srcs, layout = self._qkv(i)
        dims = {
            "n_head": c.n_head,
            "n_kv": c.n_head_kv,
            "hd": c.head_dim,
            "vd": c.value_dim,
            "eps": c.rms_eps,
            "ctx": self.ctx,
            "tmax": self.tmax,
            "layout": layout,
        }
        qkn = k.upload(
            np.concatenate([_f32(self.model, p + "attn_q_norm.weight"), _f32(self.model, p + "attn_k_norm.weight")]),
            label="qkn",
            weight=True,
        )
        qk = {
            **srcs,
            "q_out": b["q"],
            "qk_norm": qkn,
            "rope": b["rope"],
            "k_cache": kc,
            "v_cache": vc,
            "step": b["step"],
        }
        att = {"q": b["q"], "k_cache": kc, "v_cache": vc, "part": b["part"], "out": b["attn"], "step": b["step"]}
        many = (
            [flash_attention_op(k, att, dims, self.faults), None]
            if self.flash
            else attn.attention_ops(k, att, dims, self.faults)
        )
        # decode: attn_decode reads the raw q/k/v itself (norm, RoPE, cache write in-kernel),
        # so no qk_norm_rope_kv dispatch precedes it
        fused = {n: v for n, v in qk.items() if n != "q_out"} | {"part": b["part1"], "out": b["attn"]}
        one = attn.attention_ops(k, fused, {**dims, "tmax": 1}, self.faults, split=ATTN_SPLIT_DECODE)
        return proj + [
            one_or_many(None, attn.qk_norm_rope_kv_op(k, qk, dims, self.faults)),
            *(one_or_many(o, m) for o, m in zip(one, many)),
            self._mv(p + "attn_output.weight", b["attn"], b["o"], x_stride=c.n_head * c.value_dim),
            *self._router(i),
        ]

    def _router(self, i: int) -> list:
        """x += o (attention residual) and h = ffn_norm(x) · router logits = Wr·h (the F32
        matvec, spread over many workgroups) · softmax + top-k: three dispatches. (One fused
        workgroup per token computing Wr·h itself was a latency-bound chain: 0.44 ms per layer
        on the H100, docs/perf.md steps 1 and 9.)"""
        c, k, b, p = self.cfg, self.k, self.buf, f"blk.{i}."
        norm = norms.residual_norm_op(
            k, b["o"], b["x"], self.vecs[p + "ffn_norm.weight"], b["h"], b["step"], c.n_embd, c.rms_eps
        )
        wr = upload_tensor(k, self.model, p + "ffn_gate_inp.weight")
        dims = {"H": c.n_embd, "E": c.n_expert, "K": c.n_expert_used}
        return [norm, *router_ops(k, wr, b, dims, faults=self.faults, tmax=self.tmax)]

    def _moe_block(self, i: int) -> list:
        """gate/up/SwiGLU (ids from the router's GPU buffer) · down · x += Σ w·down, then the
        next layer's attn_norm (output_norm after the last layer)."""
        c, k, b = self.cfg, self.k, self.buf
        H, K = c.n_embd, c.n_expert_used
        nxt = "output_norm.weight" if i + 1 == c.n_layer else f"blk.{i + 1}.attn_norm.weight"
        uploaded: dict = {}
        one = expert_ops(k, self.model, i, b, K, x_stride=H, slots=self.tmax * K, faults=self.faults, uploaded=uploaded)
        many = grouped_expert_ops(k, uploaded, b, self.groups, H=H, n_ff=c.n_ff_exp, faults=self.faults)
        return [
            *(one_or_many(op, None) for op in one),
            *(one_or_many(None, op) for op in many),
            norms.residual_norm_op(
                k, b["d"], b["x"], self.vecs[nxt], b["h"], b["step"], H, c.rms_eps, w=b["weights"], nsrc=K
            ),
        ]

    def _head(self) -> list:
        c, k, b = self.cfg, self.k, self.buf
        out_name = "token_embd.weight" if c.tied_output else "output.weight"
        self.out_tensor = upload_tensor(k, self.model, out_name)
        # steps that need only the last position's logits (generate's prefill) run the head
        # on that row alone: ops(last_only=True)
        self.head_last = build_gemm(
            k, self.out_tensor, b["h"], b["logits"], b["step"], x_stride=c.n_embd, faults=self.faults, last_only=True
        )
        return [
            self._mv(out_name, b["h"], b["logits"], x_stride=c.n_embd, tensor=self.out_tensor),
            *head.argmax_ops(k, b["logits"], b["tok"], b["hist"], b["step"], c.vocab_size),
        ]

    def _embedding(self) -> list:
        t = self.out_tensor if self.cfg.tied_output else upload_tensor(self.k, self.model, "token_embd.weight")
        return head.embedding_ops(self.k, t, self.buf["tok"], self.buf["x"], (FAMILY_FILES[t.qtype], MATVEC_LAYOUT))

    # -- running -------------------------------------------------------------------------------
    def ops(self, traced: bool = False, last_only: bool = False) -> list:
        """The step's ops in order; when traced, (marker, layer) tuples mark capture points;
        last_only: a step of several tokens computes the last position's logits alone."""
        out = list(self.embed_ops)
        for i, layer in enumerate(self.layer_ops):
            for op in layer:
                if not isinstance(op, str):
                    out.append(op)
                elif traced:
                    out.append((op, i))
        h0 = self.head_ops[0]  # a ByTokens (matvec | GEMM) where a step holds several tokens
        head = (
            self.head_ops
            if not last_only or not isinstance(h0, ByTokens)
            else [one_or_many(h0.pick(1), self.head_last), *self.head_ops[1:]]
        )
        return out + list(head)

    # -- one step ------------------------------------------------------------------------------
    def step(
        self, pos0: int, n_tok: int, tokens=None, *, slot: int = 0, logits: bool = True, trace: bool = False
    ) -> dict:
        """Run n_tok tokens at positions pos0.. as ONE submission. tokens=None keeps the ids the
        previous step's argmax left on the GPU. Returns the arrays read back (none inside)."""
        if not 1 <= n_tok <= self.tmax or pos0 + n_tok > self.ctx:
            raise ValueError(
                f"step of {n_tok} tokens at position {pos0} does not fit (chunk {self.tmax}, context {self.ctx})"
            )
        if tokens is not None:
            self._check_tokens(tokens)
            self.k.write(self.buf["tok"], np.asarray(tokens, np.uint32))
        self.k.write(self.buf["step"], step_bytes(pos0, n_tok, slot))
        ahead, self._ahead = self._ahead, None
        batch = (
            ahead[1]
            if ahead and ahead[0] == (pos0, n_tok) and not trace
            else self._encode(pos0, n_tok, trace, last_only=not logits)
        )
        nxt = pos0 + n_tok
        # while the GPU runs this step, encode the next decode step (its commands depend only
        # on the position; token ids and the step uniform are written before its submit)
        encode_next = (
            None
            if trace or nxt >= self.ctx
            else (lambda: setattr(self, "_ahead", ((nxt, 1), self._encode(nxt, 1, False))))
        )
        wanted = [("logits", self.buf["logits"], n_tok * self.cfg.vocab_size * 4)] if logits else []
        if trace:  # captures are packed (L, n_tok, width): read back only those bytes
            wanted += self.trace.readback(n_tok)
        raw = batch.submit(readback=[(b, nb) for _, b, nb in wanted], before_wait=encode_next)
        return {n: r for (n, _, _), r in zip(wanted, raw)}

    def _encode(self, pos0: int, n_tok: int, trace: bool, last_only: bool = False):
        """A Batch holding one step's commands (not submitted); last_only: no logits but the
        last position's (argmax reads only those)."""
        batch = self.k.batch()
        if trace:
            for op in self._traced:
                if isinstance(op, tuple):
                    self.trace.copy(batch, self.buf, op, n_tok)
                else:
                    op.encode(batch, n_tok, pos0)
        else:  # the ops' dispatches resolved once per token count (backends.wgpu.op)
            last = last_only and n_tok > 1
            key = (n_tok, "last") if last else n_tok
            if key not in self._plans:
                self._plans[key] = StepPlan(self._plain_last if last else self._plain, n_tok)
            self._plans[key].encode(batch, pos0)
        return batch

    def _check_tokens(self, tokens) -> None:
        bad = [t for t in tokens if not 0 <= int(t) < self.cfg.vocab_size]
        if bad:
            raise ValueError(f"token ids {bad} out of range 0..{self.cfg.vocab_size - 1}")

    def enable_trace(self) -> None:
        """Allocate the per-layer capture buffers (once; trace mode copies into them)."""
        self.nbytes += self.trace.enable()

    def unpack_trace(self, raw: dict, n_tok: int) -> dict:
        return self.trace.unpack(raw, n_tok)


def forward_qwen3_moe_wgpu(model, tokens, *, faults=frozenset(), graph: Qwen3MoeGraph | None = None) -> np.ndarray:
    """Teacher-forced logits (T, V) of `tokens` from an empty cache, computed on the GPU in
    prefill chunks of graph.tmax tokens (one submission each)."""
    graph = graph or Qwen3MoeGraph(model, faults=faults)
    out, pos = [], 0
    while pos < len(tokens):
        chunk = list(tokens[pos : pos + graph.tmax])
        raw = graph.step(pos, len(chunk), chunk)
        out.append(raw["logits"].view(np.float32).reshape(len(chunk), -1))
        pos += len(chunk)
    return np.concatenate(out)
