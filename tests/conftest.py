"""Shared pytest fixtures: synthetic models and the GPU-test rule.

- `tiny_model_path`, `tiny_model`, `small_model`: session-wide synthetic models (fixed seed),
  generated once through backends.synth.cached_model. HARNESS_CACHE_DIR points at a session
  temp dir unless the caller set it (set it to reuse generated models across sessions).
- `require_adapter()`: GPU tests call it (or carry the `gpu` marker, which calls it): no wgpu
  adapter is a skip with the reason locally, and a FAILURE with CI=true, since CI installs
  lavapipe precisely so these tests run.
"""

from __future__ import annotations

import functools
import os

import pytest

from backends.gguf_model import open_model
from backends.synth import cached_model
from backends.wgpu.device import list_adapters
from harness.settings import in_ci

# The seed the contracts name for their synthetic models (contracts/*.yaml), so tests see the
# same files as contract runs (and the HF oracle fixture) and a shared HARNESS_CACHE_DIR serves both.
MODEL_SEED = 20261126


@functools.cache
def _adapters() -> tuple[dict, ...]:
    return tuple(list_adapters())


def require_adapter() -> list[dict]:
    """The wgpu adapters present; skip (locally) or fail (CI=true) when there is none."""
    adapters = list(_adapters())
    if adapters:
        return adapters
    reason = "no wgpu adapter on this machine (install mesa-vulkan-drivers for lavapipe)"
    if in_ci():
        pytest.fail(f"CI=true but {reason}: GPU tests must run in CI, not skip")
    pytest.skip(reason)


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is not None:
        require_adapter()


@pytest.fixture(scope="session", autouse=True)
def harness_cache_dir(tmp_path_factory):
    """A per-session cache dir for generated models, unless HARNESS_CACHE_DIR is already set."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        yield os.environ["HARNESS_CACHE_DIR"]
        return
    path = tmp_path_factory.mktemp("harness-cache")
    os.environ["HARNESS_CACHE_DIR"] = str(path)
    try:
        yield str(path)
    finally:
        os.environ.pop("HARNESS_CACHE_DIR", None)


@pytest.fixture(scope="session")
def tiny_model_path(harness_cache_dir):
    """Path of the `tiny` synthetic model (seed MODEL_SEED)."""
    return cached_model("tiny", MODEL_SEED)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    """The `tiny` synthetic model, opened (GGUFModel)."""
    return open_model(tiny_model_path)


@pytest.fixture(scope="session")
def small_model_path(harness_cache_dir):
    """Path of the `small` synthetic model (seed MODEL_SEED); slower to generate than tiny."""
    return cached_model("small", MODEL_SEED)


@pytest.fixture(scope="session")
def small_model(small_model_path):
    """The `small` synthetic model, opened (GGUFModel)."""
    return open_model(small_model_path)
