"""`harness run` and `harness bench` on the CPU backend, through the real CLI entry point."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest

from backends.cpu.backend import CpuBackend
from harness.cli import main
from harness.commands._backend_args import UsageError, parse_selector
from harness.commands.run import save_npy_atomic

TOKENS = [3, 1, 4, 1, 5]


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    code = main(argv + ["--format", "json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 else {})


def test_run_command_saves_logits_top_k_and_generation(tiny_model, tmp_path, capsys):
    out = tmp_path / "logits.npy"
    code, result = run_json(
        capsys,
        [
            "run",
            "--model",
            str(tiny_model.path),
            "--backend",
            "cpu",
            "--tokens",
            "3,1,4,1,5",
            "--top",
            "3",
            "--generate",
            "4",
            "--logits-out",
            str(out),
        ],
    )
    assert code == 0
    expected = CpuBackend(tiny_model).prefill(TOKENS)
    saved = np.load(out)
    assert saved.dtype == np.float32 and saved.shape == (len(TOKENS), tiny_model.config.vocab_size)
    np.testing.assert_array_equal(saved, expected)
    assert [[b["id"] for b in pos] for pos in result["top"]] == np.argsort(-expected, axis=-1, kind="stable")[
        :, :3
    ].tolist()
    assert result["generated"] == CpuBackend(tiny_model).generate(TOKENS, 4)
    assert result["identity"]["backend"] == "cpu" and result["act"] == "fp32"
    assert [p.name for p in tmp_path.iterdir()] == ["logits.npy"]  # no temp file left


def test_run_command_text_output_names_the_backend(tiny_model, capsys):
    assert main(["run", "--model", str(tiny_model.path), "--backend", "cpu", "--act", "q8k", "--tokens", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "backend cpu" in out and "act q8k" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tokens", "1,x"], "comma-separated"),
        (["--tokens", "1,100000"], "outside the model's vocabulary"),
        (["--tokens", "1", "--device", "vendor=3"], "unknown key"),
        (["--tokens", "1", "--device", "vendor_id="], "KEY=VALUE"),
    ],
)
def test_run_command_bad_input_exits_2_with_reason(tiny_model, capsys, argv, message):
    assert main(["run", "--model", str(tiny_model.path), "--backend", "cpu"] + argv) == 2
    assert message in capsys.readouterr().err


def test_run_command_missing_model_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "none.gguf"
    assert main(["run", "--model", str(missing), "--backend", "cpu", "--tokens", "1"]) == 2
    assert "none.gguf" in capsys.readouterr().err


def test_run_command_requires_a_model(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--backend", "cpu", "--tokens", "1"])
    assert exc.value.code == 2


def test_bench_command_reports_throughput_memory_and_identity(tiny_model, capsys):
    code, r = run_json(
        capsys,
        [
            "bench",
            "--model",
            str(tiny_model.path),
            "--backend",
            "cpu",
            "--prompt-tokens",
            "4",
            "--decode-tokens",
            "2",
            "--runs",
            "2",
        ],
    )
    assert code == 0
    for phase in ("prefill_tok_s", "decode_tok_s"):
        s = r[phase]
        assert 0 < s["min"] <= s["median"] <= s["max"]
    assert r["runs"] == 2 and r["prompt_tokens"] == 4 and r["decode_tokens"] == 2
    weights = sum(t.nbytes for t in tiny_model.tensors.values())
    assert 0 < r["decode_weight_bytes_per_token"] < weights
    assert r["peak_rss_bytes"] > r["decode_weight_bytes_per_token"]
    assert r["identity"]["backend"] == "cpu" and set(r["counters"].values()) == {0}
    assert r["host"]["cpu_count"] and r["timestamp"].endswith("+00:00")
    assert r["threads"] == numba.get_num_threads() and r["identity"]["impl"] == "compiled"


def test_bench_command_rejects_zero_runs(tiny_model, capsys):
    assert main(["bench", "--model", str(tiny_model.path), "--backend", "cpu", "--runs", "0"]) == 2
    assert "--runs" in capsys.readouterr().err


def test_save_npy_atomic_replaces_existing_file(tmp_path):
    path = tmp_path / "a.npy"
    path.write_bytes(b"old")
    save_npy_atomic(path, np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(np.load(path), [0.0, 1.0, 2.0])
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]


def test_parse_selector_reads_hex_vendor_and_strings():
    assert parse_selector(["vendor_id=0x10de", "backend_type=Vulkan"]) == {
        "vendor_id": 0x10DE,
        "backend_type": "Vulkan",
    }
    assert parse_selector(["llvmpipe"]) == {"name_pattern": "llvmpipe"}
    assert parse_selector([]) is None
    with pytest.raises(UsageError, match="integer"):
        parse_selector(["vendor_id=nvidia"])
