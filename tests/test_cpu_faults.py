"""Planted faults on the CPU backend: each one it implements must move what it claims to move."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from backends import FAULTS, open_backend
from backends.cpu.backend import CpuBackend
from backends.cpu.knobs import IMPLEMENTED, WRONG_THETA, knobs_for

PROMPT = [3, 1, 4, 1, 5, 9, 2, 6]
# The tolerance the clean backend is held to against float64 (test_cpu_backend.py): a fault
# must be visible at it, or no parity falsifier at that tolerance could catch it.
REL_TOL = 1e-5
# softmax over the k selected logits equals softmax-over-all-then-renormalise in exact
# arithmetic, so that fault can only show in router_probs (tested separately below).
LOGIT_FAULTS = sorted(IMPLEMENTED - {"softmax_after_topk"})


@pytest.fixture(scope="module")
def clean(tiny_model):
    return CpuBackend(tiny_model).trace(PROMPT, prefill_len=5)


def visibly_different(a: np.ndarray, b: np.ndarray) -> bool:
    if not np.isfinite(a).all():
        return True
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b))) > REL_TOL


@pytest.mark.parametrize("fault", LOGIT_FAULTS)
def test_cpu_fault_changes_the_logits(tiny_model, clean, fault):
    with np.errstate(all="ignore"):  # q6k_as_q4k decodes garbage scales, inf/NaN included
        faulty = CpuBackend(tiny_model, faults=frozenset({fault})).trace(PROMPT, prefill_len=5)
    assert visibly_different(faulty.logits, clean.logits)
    assert faulty.meta["faults"] == [fault]


def test_cpu_fault_softmax_after_topk_shows_only_in_router_probs(tiny_model, clean):
    faulty = CpuBackend(tiny_model, faults=frozenset({"softmax_after_topk"})).trace(PROMPT, 5)
    np.testing.assert_array_equal(faulty.router_ids, clean.router_ids)
    np.testing.assert_allclose(faulty.logits, clean.logits, rtol=0, atol=REL_TOL * np.abs(clean.logits).max())
    unselected = np.ones(faulty.router_probs.shape, bool)
    np.put_along_axis(unselected, faulty.router_ids.astype(np.int64), False, axis=-1)
    assert np.all(faulty.router_probs[unselected] == 0.0)
    assert np.all(clean.router_probs[unselected] > 0.0)


@pytest.mark.parametrize("fault", sorted(set(FAULTS) - IMPLEMENTED))
def test_cpu_fault_not_implemented_raises(tiny_model, fault):
    with pytest.raises(NotImplementedError, match=fault):
        open_backend("cpu", tiny_model, faults=frozenset({fault}))


def test_cpu_fault_unknown_name_raises(tiny_model):
    with pytest.raises(ValueError, match="no_such_bug"):
        open_backend("cpu", tiny_model, faults=frozenset({"no_such_bug"}))


def test_cpu_fault_that_cannot_change_the_model_raises(tiny_model):
    cfg = dataclasses.replace(tiny_model.config, rope_theta=WRONG_THETA)
    stub = SimpleNamespace(config=cfg, tensors=tiny_model.tensors, path=tiny_model.path)
    with pytest.raises(ValueError, match="rope_theta_10k cannot change"):
        knobs_for(stub, frozenset({"rope_theta_10k"}))
    assert knobs_for(stub).rope_theta == WRONG_THETA  # no fault: the file's value is used


def test_cpu_fault_knobs_default_to_the_file(tiny_model):
    cfg, knobs = tiny_model.config, knobs_for(tiny_model)
    assert knobs.rope_theta == cfg.rope_theta and knobs.attn_dim == cfg.head_dim
    assert knobs.qk_norm and knobs.renormalise and knobs.softmax_first
    assert knobs.expert_shift == 0 and knobs.output_decode_as is None
    group = cfg.n_head // cfg.n_head_kv
    assert knobs.kv_map == tuple(j // group for j in range(cfg.n_head))
