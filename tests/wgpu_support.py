"""Helpers shared by the wgpu op tests: the Kernels fixture and the error measure."""

from __future__ import annotations

import numpy as np
import pytest

from backends.wgpu.runtime import kernels_for
from tests.conftest import require_adapter

F32_NMSE = 1e-10  # f32 reduction-order noise only


@pytest.fixture(scope="module")
def k():
    """The process's Kernels; skip without an adapter locally, FAIL in CI (CI installs lavapipe)."""
    require_adapter()
    return kernels_for()


def nmse(got, want) -> float:
    """Normalised mean squared error of got against want, in float64."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.sum((got - want) ** 2) / max(np.sum(want**2), 1e-300))


def mutated_kernels(k, monkeypatch, shader: str, old: str, new: str):
    """A Kernels with its own pipeline cache whose `shader` source has `old` replaced by `new`
    (a planted bug); fails if the mutation no longer matches the kernel."""
    from backends.wgpu import runtime

    real = runtime.shader_source
    src = real(shader)
    assert old in src, "the mutation no longer matches the kernel"
    monkeypatch.setattr(runtime, "shader_source", lambda n: src.replace(old, new) if n == shader else real(n))
    return runtime.Kernels(k.gpu)
