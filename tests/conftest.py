"""Shared pytest fixtures: synthetic models and the GPU-test rule.

- `tiny_model_path`, `tiny_model`, `small_model`: session-wide synthetic models (fixed seed),
  generated once through harness.model_store.synthetic_model. HARNESS_CACHE_DIR points at a session
  temp dir unless the caller set it (set it to reuse generated models across sessions).
- The GPU-test rule: tests marked `gpu` (and every test in tests/test_wgpu_*.py) get a `skipif`
  marker at collection when no wgpu adapter exists here, stating why; with CI=true they are never
  skipped, and `require_adapter()` FAILS them, since CI installs lavapipe so that they run.
  HAS_LAVAPIPE / HAS_OPENGL / HAS_TIMESTAMPS are the facts narrower `skipif`s use.
"""

from __future__ import annotations

import os

import pytest

from backends.model.gguf_model import open_model
from harness.model_store import synthetic_model
from backends.wgpu.device import list_adapters
from harness.settings import in_ci

# The seed the contracts name for their synthetic models (contracts/*.yaml), so tests see the
# same files as contract runs (and the HF oracle fixture) and a shared HARNESS_CACHE_DIR serves both.
MODEL_SEED = 20261126


ADAPTERS: tuple[dict, ...] = tuple(list_adapters())
NO_ADAPTER = "no wgpu adapter on this machine (install mesa-vulkan-drivers for lavapipe)"
HAS_LAVAPIPE = any("llvmpipe" in a["name"] and a["backend_type"] == "Vulkan" for a in ADAPTERS)
# llvmpipe's OpenGL adapter: a device without subgroup / shader-f16 (a vendor GL adapter in a
# headless container may exist and still fail to open: seen on the lent H100 machine)
HAS_OPENGL = any(a["backend_type"] == "OpenGL" and "llvmpipe" in a["name"] for a in ADAPTERS)


def _timestamps_anywhere() -> bool:
    try:
        import wgpu

        return any("timestamp-query" in a.features for a in wgpu.gpu.enumerate_adapters_sync())
    except Exception:  # no driver: nothing to time
        return False


HAS_TIMESTAMPS = _timestamps_anywhere()


def skip_unless(present: bool, reason: str):
    """skipif(not present) — but never under CI=true, where the test runs (and fails) instead."""
    return pytest.mark.skipif(not present and not in_ci(), reason=reason)


def require_adapter() -> list[dict]:
    """The wgpu adapters present; a missing adapter is a FAILURE here (locally such tests were
    already skipped at collection by the GPU-test rule)."""
    if not ADAPTERS:
        pytest.fail(f"CI=true but {NO_ADAPTER}: GPU tests must run in CI, not skip" if in_ci() else NO_ADAPTER)
    return list(ADAPTERS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("gpu") is None and item.path.name.startswith("test_wgpu_"):
            item.add_marker(pytest.mark.gpu)
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip_unless(bool(ADAPTERS), NO_ADAPTER))


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
    return synthetic_model("tiny", MODEL_SEED)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    """The `tiny` synthetic model, opened (GGUFModel)."""
    return open_model(tiny_model_path)


@pytest.fixture(scope="session")
def small_model_path(harness_cache_dir):
    """Path of the `small` synthetic model (seed MODEL_SEED); slower to generate than tiny."""
    return synthetic_model("small", MODEL_SEED)


@pytest.fixture(scope="session")
def small_model(small_model_path):
    """The `small` synthetic model, opened (GGUFModel)."""
    return open_model(small_model_path)
