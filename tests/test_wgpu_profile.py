"""backends.wgpu.profile: per-kernel GPU time, encode time and copy bandwidth on the tiny model."""

from __future__ import annotations

import json

import pytest

from backends.wgpu import profile
from backends.wgpu.forward import Qwen3MoeGraph
from backends.wgpu.runtime import kernels_for
from tests.conftest import HAS_TIMESTAMPS, require_adapter, skip_unless


@pytest.fixture(scope="module")
def graph(tiny_model):
    require_adapter()
    return Qwen3MoeGraph(tiny_model, max_context=64, prefill_chunk=8)


@skip_unless(HAS_TIMESTAMPS, "no adapter with timestamp-query")
def test_profile_step_times_every_dispatch_by_family(graph):
    assert graph.k.info.has_timestamps, "this adapter lacks timestamp-query"
    enc = profile.encode_seconds(graph, 0, 1, repeats=1)
    prof = profile.profile_step(graph, 3, 1)
    fams = prof["families"]
    # decode steps dispatch nothing for qk_norm_rope_kv (one_or_many with no single-token side)
    dispatching = [op for op in graph.ops() if op.dispatches(1)]
    assert sum(f["count"] for f in fams.values()) == prof["passes"] == len(dispatching)
    assert enc["dispatches_per_step"] >= prof["passes"]
    assert any(name.startswith("matvec ffn_down_exps") for name in fams)
    assert {"router_topk", "attn_partial", "argmax"} <= set(fams)
    assert sum(f["share"] for f in fams.values()) == pytest.approx(1.0)
    assert prof["gpu_ms_total"] > 0 and enc["encode_s_median"] > 0


def test_copy_bandwidth_counts_read_and_write(graph):
    k = kernels_for()
    r = profile.copy_bandwidth(k, nbytes=1 << 20, repeats=2)
    assert r["bytes"] == 1 << 20
    assert r["gb_s_read_plus_write"] == pytest.approx(2 * r["gb_s_read"])
    assert r["gb_s_read"] == pytest.approx(r["bytes"] / r["seconds"] / 1e9)


def test_bench_wgpu_profile_reports_kernels_copy_and_encode(tiny_model, capsys):
    require_adapter()
    from harness.cli import main

    args = [
        "bench",
        "--backend",
        "wgpu",
        "--model",
        str(tiny_model.path),
        "--prompt-tokens",
        "4",
        "--decode-tokens",
        "2",
        "--runs",
        "1",
        "--profile",
        "--format",
        "json",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert "adapter:" in captured.err
    assert r["device_copy"]["gb_s_read_plus_write"] > 0 and 0 < r["decode_share_of_copy_bw"]
    assert r["decode_encode"]["dispatches_per_step"] > 0
    assert r["device_bytes_resident"] > 0
    if kernels_for().info.has_timestamps:
        assert r["profile_decode"]["n_tok"] == 1 and r["profile_decode"]["families"]
        assert r["profile_prefill"]["n_tok"] > 1
    else:
        assert "profile_decode" not in r
