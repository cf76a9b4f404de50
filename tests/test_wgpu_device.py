"""Device layer (backends.wgpu.device) and pipeline/dispatch infrastructure (runtime.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from backends.api import BackendUnavailable
from backends.wgpu import device as dev
from backends.wgpu import runtime as kern
from tests.conftest import HAS_TIMESTAMPS, require_adapter, skip_unless

needs_timestamps = skip_unless(HAS_TIMESTAMPS, "no adapter with timestamp-query")

LLVMPIPE = {
    "name": "llvmpipe (LLVM 15.0.6, 256 bits)",
    "vendor_id": 0x10005,
    "device_id": 0,
    "backend_type": "Vulkan",
    "adapter_type": "CPU",
}


def require_gpu():
    """The process's device; skip without an adapter locally, FAIL in CI (tests/conftest.py)."""
    require_adapter()
    return dev.get_device()


# Tiny kernels used only here: they exercise common.wgsl and the dispatch plumbing.
_TEST_SHADERS = {
    "t_decode": """
override N: u32 = 0u;
@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@compute @workgroup_size(64) fn f16(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * 65536u;
  if (i < N) { b[i] = f16_to_f32(a[i]); }
}
@compute @workgroup_size(64) fn bf16(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * 65536u;
  if (i < N) { b[i] = bf16_to_f32(a[i]); }
}
@compute @workgroup_size(64) fn sbytes(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x;
  if (i < N) { b[i] = f32(sbyte_of(a[i / 4u], i % 4u)) + 1000.0 * f32(byte_of(a[i / 4u], i % 4u)); }
}""",
    "t_bad": "fn broken() { let y: u32 = 1.0; }",
}


@pytest.fixture
def test_shaders(monkeypatch):
    real = kern.shader_source
    monkeypatch.setattr(kern, "shader_source", lambda n: _TEST_SHADERS.get(n) or real(n))


@pytest.mark.parametrize(
    "selector, expected",
    [
        (None, True),
        ({}, True),
        ({"vendor_id": 0x10005}, True),
        ({"vendor_id": 0x10DE}, False),
        ({"backend_type": "vulkan"}, True),
        ({"backend_type": "Metal"}, False),
        ({"adapter_type": "CPU", "name_pattern": "llvm"}, True),
        ({"adapter_type": "CPU", "name_pattern": "^NVIDIA"}, False),
        ({"adapter_type": "DiscreteGPU"}, False),
    ],
)
def test_match_selector_all_given_keys_must_match(selector, expected):
    assert dev.match_selector(LLVMPIPE, selector) is expected


def test_match_selector_rejects_unknown_key():
    with pytest.raises(ValueError, match="vendor"):
        dev.match_selector(LLVMPIPE, {"vendorid": 1})


def test_list_adapters_returns_empty_without_driver(monkeypatch):
    def no_driver():
        raise RuntimeError("no Vulkan loader")

    monkeypatch.setattr(dev.wgpu.gpu, "enumerate_adapters_sync", no_driver)
    assert dev.list_adapters() == []


def test_pick_adapter_no_match_lists_present_adapters():
    require_gpu()
    with pytest.raises(BackendUnavailable, match="present: .*vendor 0x"):
        dev._pick_adapter({"vendor_id": 0xDEAD})


def test_get_device_identity_and_limits():
    gpu = require_gpu()
    ident = gpu.info.identity
    assert ident["backend"] == "wgpu"
    assert set(ident) >= {"adapter", "vendor_id", "device_id", "backend_type", "adapter_type", "driver", "is_cpu"}
    assert ident["is_cpu"] == (ident["adapter_type"] == "CPU")
    # The device got the adapter's largest storage binding, not the 128 MiB default cap.
    assert gpu.info.max_binding == gpu.adapter.limits["max-storage-buffer-binding-size"]
    wanted = {f for f in dev.OPTIONAL_FEATURES if f in gpu.adapter.features}
    assert wanted <= gpu.info.features
    assert dev.get_device() is gpu


def test_get_device_second_adapter_raises():
    require_gpu()
    with pytest.raises(BackendUnavailable, match="one device per process"):
        dev.get_device({"vendor_id": 0xDEAD})


def _run_decode(k, entry, words, n):
    p = k.pipeline(("common", "t_decode"), entry=entry, constants={"N": n}, layout=("read", "rw"))
    a, b = k.upload(words), k.buffer(4 * n)
    batch = k.batch()
    batch.dispatch(p, k.bind_group(p, [a, b]), min(1024, (n + 63) // 64), (n + 65535) // 65536)
    return batch.submit(readback=[(b, 4 * n)])[0].view(np.float32)


def test_common_f16_decode_matches_numpy_for_every_bit_pattern(test_shaders):
    k = kern.kernels_for(require_gpu())
    bits = np.arange(65536, dtype=np.uint32)
    got = _run_decode(k, "f16", bits, bits.size)
    want = bits.astype(np.uint16).view(np.float16).astype(np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    bad = np.flatnonzero(got[~nan].view(np.uint32) != want[~nan].view(np.uint32))
    assert bad.size == 0, f"f16 bits 0x{int(bits[~nan][bad[0]]):04x}: {got[~nan][bad[0]]}"


def test_common_bf16_and_byte_helpers(test_shaders):
    k = kern.kernels_for(require_gpu())
    bits = np.array([0x3F80, 0xC020, 0x0000, 0x7F80, 0x0001], np.uint32)
    want = (bits << 16).view(np.float32)
    assert np.array_equal(_run_decode(k, "bf16", bits, bits.size), want)
    raw = np.array([0, 1, 127, 128, 255, 7, 200, 64], np.uint8)
    got = _run_decode(k, "sbytes", raw.view(np.uint32), raw.size)
    assert np.array_equal(got, raw.view(np.int8) + 1000.0 * raw)


def test_kernels_pipeline_cached_per_key(test_shaders):
    k = kern.kernels_for(require_gpu())
    before = k.counters.pipelines_created
    a = k.pipeline(("common", "t_decode"), entry="f16", constants={"N": 7}, layout=("read", "rw"))
    b = k.pipeline(("common", "t_decode"), entry="f16", constants={"N": 7}, layout=("read", "rw"))
    c = k.pipeline(("common", "t_decode"), entry="f16", constants={"N": 8}, layout=("read", "rw"))
    assert a is b and c is not a
    assert k.counters.pipelines_created == before + 2


def test_kernels_shader_error_names_file_and_message(test_shaders):
    k = kern.kernels_for(require_gpu())
    with pytest.raises(kern.ShaderError, match=r"shaders/t_bad\.wgsl.*(?s:.*)expected to be `u32`"):
        k.pipeline(("common", "t_bad"))


def test_kernels_batch_one_submit_reads_several_buffers(test_shaders):
    k = kern.kernels_for(require_gpu())
    x = np.arange(10, dtype=np.float32)
    y = np.arange(300, dtype=np.uint32)
    bx, by = k.upload(x), k.upload(y)
    before = k.counters.as_dict()
    got_x, got_y = k.read(bx, (by, 300 * 4))
    after = k.counters.as_dict()
    assert np.array_equal(got_x.view(np.float32), x) and np.array_equal(got_y.view(np.uint32), y)
    assert after["submits"] == before["submits"] + 1
    assert after["bytes_read"] == before["bytes_read"] + x.nbytes + y.nbytes


@needs_timestamps
def test_kernels_timed_batch_reports_gpu_seconds(test_shaders):
    k = kern.kernels_for(require_gpu())
    assert k.info.has_timestamps, "this adapter lacks timestamp-query"
    n = 1 << 16
    p = k.pipeline(("common", "t_decode"), entry="f16", constants={"N": n}, layout=("read", "rw"))
    bg = k.bind_group(p, [k.upload(np.arange(n, dtype=np.uint32)), k.buffer(4 * n)])
    batch = k.batch(timed=True)
    for _ in range(3):
        batch.dispatch(p, bg, n // 64)
    t0 = time.perf_counter()
    assert batch.submit() == [] and batch.gpu_seconds is not None
    wall = time.perf_counter() - t0
    assert 0 < batch.gpu_seconds <= wall + 1e-3  # the GPU ran within the submit's wall time
    assert k.batch().gpu_seconds is None


@needs_timestamps
def test_kernels_new_pass_labels_each_timed_pass(test_shaders):
    k = kern.kernels_for(require_gpu())
    assert k.info.has_timestamps, "this adapter lacks timestamp-query"
    n = 1 << 12
    p = k.pipeline(("common", "t_decode"), entry="f16", constants={"N": n}, layout=("read", "rw"))
    bg = k.bind_group(p, [k.upload(np.arange(n, dtype=np.uint32)), k.buffer(4 * n)])
    batch = k.batch(timed=True, max_passes=3)
    for label in ("a", "b", "a"):
        batch.new_pass(label)
        batch.dispatch(p, bg, n // 64)
    batch.submit()
    assert [lab for lab, _ in batch.pass_seconds] == ["a", "b", "a"]
    assert all(s > 0 for _, s in batch.pass_seconds)
    assert batch.gpu_seconds == pytest.approx(sum(s for _, s in batch.pass_seconds))
    over = k.batch(timed=True, max_passes=1)
    over.dispatch(p, bg, 1)
    over.new_pass("second")
    with pytest.raises(RuntimeError, match="more than 1 compute passes"):
        over.dispatch(p, bg, 1)


def test_kernels_finish_waits_for_submitted_work(test_shaders):
    k = kern.kernels_for(require_gpu())
    before = k.counters.submits
    k.finish()
    assert k.counters.submits == before + 1
