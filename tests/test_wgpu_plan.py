"""backends.wgpu.plan: a flattened step records exactly the dispatches of the op walk."""

from __future__ import annotations

import numpy as np
import pytest

from backends.wgpu import kernel_ops as ko
from backends.wgpu.forward import Qwen3MoeGraph
from backends.wgpu.kernels import COMMANDS
from backends.wgpu.plan import StepPlan, flatten
from tests.conftest import require_adapter


class _Recorder:
    """Stands in for a Batch: records (pipeline, bind group, grid) per dispatch."""

    def __init__(self):
        self.calls = []

    def dispatch(self, pipeline, bind_group, x, y=1, z=1):
        self.calls.append((id(pipeline), id(COMMANDS[0](bind_group)), (int(x), int(y), int(z))))


@pytest.fixture(scope="module")
def graph(tiny_model):
    require_adapter()
    return Qwen3MoeGraph(tiny_model, max_context=64, prefill_chunk=8)


@pytest.mark.parametrize("n_tok,pos0", [(1, 0), (1, 37), (8, 0), (5, 40)])
def test_plan_records_the_op_walk(graph, n_tok, pos0):
    walked = _Recorder()
    for op in graph.ops():
        op.encode(walked, n_tok, pos0)
    planned = []
    for pipe, bg, grid in (e for op in graph.ops() for e in flatten(op, n_tok)):
        assert pipe is not None, "every forward op type is known to the plan"
        planned.append((id(pipe), id(bg), tuple(int(v) for v in
                                                 (grid(pos0) if callable(grid) else grid))))
    assert planned == walked.calls


def test_plan_step_logits_equal_op_walk(graph):
    tokens = [3, 1, 4, 1, 5]
    graph.step(0, 5, tokens)
    planned = graph.step(5, 1, [9])["logits"].view(np.float32).copy()
    assert 1 in graph._plans and 5 in graph._plans
    plan = graph._plans.pop(1)
    try:   # the same step through the op walk
        batch = graph.k.batch()
        graph.k.write(graph.buf["tok"], np.asarray([9], np.uint32))
        graph.k.write(graph.buf["step"], ko.step_bytes(5, 1, 0))
        for op in graph.ops():
            op.encode(batch, 1, 5)
        (raw,) = batch.submit(readback=[(graph.buf["logits"], 4 * graph.cfg.vocab_size)])
    finally:
        graph._plans[1] = plan
    assert np.array_equal(planned, raw.view(np.float32))
    assert isinstance(plan, StepPlan) and plan.n_tok == 1


def test_step_encodes_the_next_decode_step_ahead(graph):
    graph.step(0, 3, [1, 2, 3])
    (pos, n_tok), batch = graph._ahead
    assert (pos, n_tok) == (3, 1)
    before = graph.k.counters.as_dict()
    graph.step(3, 1, [4])                       # uses that batch: no new encode before submit
    after = graph.k.counters.as_dict()
    assert graph._ahead[0] == (4, 1) and graph._ahead[1] is not batch
    assert after["submits"] - before["submits"] == 1
    assert after["dispatches"] - before["dispatches"] == len(graph._plans[1].entries)
