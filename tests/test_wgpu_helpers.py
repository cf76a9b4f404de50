"""backends.wgpu.helpers: the one-shot op-parity helpers run the forward's own kernels in the
modes the forward uses (router logits by the matvec, then router_topk on the logits)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.cpu import ops as cpu
from backends.wgpu import helpers
from backends.wgpu.forward import Qwen3MoeGraph
from tests.conftest import require_adapter

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def graph(tiny_model):
    require_adapter()
    return Qwen3MoeGraph(tiny_model, max_context=64, prefill_chunk=8)


def test_helpers_build_no_pipeline_the_forward_lacks(graph, tiny_model):
    # every pipeline (kernel file, entry point, constants, layout) a helper needs was already
    # built by the forward: a helper in another mode (e.g. the router computing Wr·h itself)
    # would compile a pipeline of its own
    k, c = graph.k, tiny_model.config
    h = np.random.default_rng(5).standard_normal(c.n_embd).astype(np.float32)
    before = k.counters.pipelines_created
    helpers.router_wgpu(tiny_model, 1, h)
    helpers.moe_ffn_forward_layer_wgpu(tiny_model, 1, h)
    helpers.expert_swiglu_wgpu(tiny_model, 1, h, np.arange(c.n_expert_used))
    assert k.counters.pipelines_created == before


def test_router_wgpu_matches_the_forward_router(graph, tiny_model):
    # the forward's traced router choice at every layer and position, recomputed by the helper
    # from the traced hidden state (h = ffn_norm(hidden_attn), as the forward feeds its router)
    c = tiny_model.config
    tokens = [3, 14, 15, 92]
    graph.enable_trace()
    raw = graph.step(0, len(tokens), tokens, trace=True)
    trace = graph.unpack_trace(raw, len(tokens))
    for layer in range(c.n_layer):
        norm = tiny_model.rows(f"blk.{layer}.ffn_norm.weight", 0, 1)[0]
        for t in range(len(tokens)):
            h = cpu.rms_norm(trace["hidden_attn"][layer, t][None], norm, c.rms_eps)[0]
            ids, w, _ = helpers.router_wgpu(tiny_model, layer, h.astype(np.float32))
            assert ids.tolist() == trace["router_ids"][layer, t].tolist()
            np.testing.assert_allclose(w, trace["router_weights"][layer, t], rtol=1e-5, atol=1e-7)
