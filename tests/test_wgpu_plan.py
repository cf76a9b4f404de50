"""backends.wgpu.op: ops know their own dispatches; a step plan records exactly what encoding
the ops records; position-dependent grids are declared by the op, never guessed."""

from __future__ import annotations

import numpy as np
import pytest

from backends.wgpu.forward import Qwen3MoeGraph
from backends.wgpu.op import ByTokens, Op, StepPlan, one_or_many, step_bytes
from tests.conftest import require_adapter


class _Recorder:
    """Stands in for a Batch: records (pipeline, bind group, grid) per dispatch."""

    def __init__(self):
        self.calls = []

    def record(self, entries, pos0):
        self.calls += [
            (id(pipe), id(bg), tuple(int(v) for v in (grid(pos0) if callable(grid) else grid)))
            for pipe, bg, grid in entries
        ]


@pytest.fixture(scope="module")
def graph(tiny_model):
    require_adapter()
    return Qwen3MoeGraph(tiny_model, max_context=64, prefill_chunk=8)


@pytest.mark.parametrize("n_tok,pos0", [(1, 0), (1, 37), (8, 0), (5, 40)])
def test_plan_records_the_ops_encode(graph, n_tok, pos0):
    walked, planned = _Recorder(), _Recorder()
    for op in graph.ops():
        op.encode(walked, n_tok, pos0)
    StepPlan(graph.ops(), n_tok).encode(planned, pos0)
    assert planned.calls == walked.calls and walked.calls


def test_only_declared_grids_depend_on_the_position(graph):
    # attention's partial pass is the one kernel whose grid grows with the position
    for n_tok in (1, 5):
        for op in graph.ops():
            picked = op.pick(n_tok) if isinstance(op, ByTokens) else op
            if picked is None:
                continue
            for _, _, grid in picked.dispatches(n_tok):
                assert callable(grid) == picked.by_position, picked.name
                if picked.by_position:
                    assert picked.name == "attn_partial"
                    if n_tok == 1:  # decode splits of 8 positions: more as the cache grows
                        assert grid(0) != grid(62), "a declared grid that never moves"


class _Handle:
    """A stand-in bind group: its own native handle."""

    @property
    def _internal(self):
        return self


def test_an_undeclared_position_grid_is_refused():
    # the planted bug: a grid reading pos0 without by_position cannot be planned silently
    bad = Op("bad", pipeline=None, launches=((_Handle(), lambda t, p: (t, 1, p)),))
    with pytest.raises(TypeError):
        bad.dispatches(1)
    good = Op("good", pipeline=None, launches=((_Handle(), lambda t, p: (t, 1, p)),), by_position=True)
    ((_, _, grid),) = good.dispatches(2)
    assert grid(7) == (2, 1, 7)


def test_by_tokens_picks_the_last_choice_reached():
    a, b = Op("a", None, ()), Op("b", None, ())
    choice = ByTokens(((1, a), (4, b)))
    assert [choice.pick(n) for n in (1, 3, 4, 9)] == [a, a, b, b]
    assert one_or_many(None, a).pick(1) is None and one_or_many(None, a).pick(2) is a


def test_plan_step_logits_equal_op_walk(graph):
    tokens = [3, 1, 4, 1, 5]
    graph.step(0, 5, tokens)
    planned = graph.step(5, 1, [9])["logits"].view(np.float32).copy()
    assert 1 in graph._plans and 5 in graph._plans
    plan = graph._plans.pop(1)
    try:  # the same step through the op walk
        batch = graph.k.batch()
        graph.k.write(graph.buf["tok"], np.asarray([9], np.uint32))
        graph.k.write(graph.buf["step"], step_bytes(5, 1, 0))
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
    graph.step(3, 1, [4])  # uses that batch: no new encode before submit
    after = graph.k.counters.as_dict()
    assert graph._ahead[0] == (4, 1) and graph._ahead[1] is not batch
    assert after["submits"] - before["submits"] == 1
    assert after["dispatches"] - before["dispatches"] == len(graph._plans[1].entries)
