"""Issue 16 items 6 and 9 (and issue 17 item 6): one exit-code table, used by every command and
by the README; bad input is 2 before any work; Ctrl-C 130; a crash 4; a closed pipe is quiet;
small input holes (--tokens 1,,2, a context overflow, a corrupt cached model) are closed."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backends.model.synth import cache
from harness import exit_codes
from harness.cli import main
from harness.commands import validate, verify
from harness.commands._backend_args import UsageError, parse_tokens
from tests.engine_support import determinism, document, null_options, write_contract
from tests.test_gguf_model import write_variant

ROOT = Path(__file__).resolve().parents[1]
CPU_CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-v1.yaml"


def test_readme_exit_code_table_is_the_one_in_exit_codes():
    readme = (ROOT / "README.md").read_text()
    assert exit_codes.markdown_table() in readme
    codes = [code for code, _ in exit_codes.TABLE]
    assert len(set(codes)) == len(codes)


def test_no_command_defines_its_own_exit_numbers():
    """Every EXIT_* constant in harness/ is taken from harness.exit_codes."""
    offenders = []
    for path in (ROOT / "harness").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if (
                line.startswith("EXIT_")
                and "=" in line
                and "exit_codes" not in line
                and not line.rstrip().endswith("(")
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line}")
    assert not offenders


def test_verify_missing_model_is_usage_error_before_any_job(tmp_path, capsys):
    assert main(["verify", str(CPU_CONTRACT), "--model", str(tmp_path / "none.gguf")]) == 2
    err = capsys.readouterr().err
    assert "none.gguf" in err and "not found" in err
    assert "ERROR" not in err  # no job ran


def test_verify_unsupported_quant_type_is_usage_error(tmp_path, capsys):
    def iq4_xs(name, data, qtype):
        if name != "blk.0.attn_q.weight":
            return data, qtype, None
        return np.zeros((data.shape[0], 136), np.uint8), "IQ4_XS", None

    bad = write_variant(tmp_path / "iq4.gguf", edit=iq4_xs)
    assert main(["verify", str(CPU_CONTRACT), "--model", str(bad)]) == 2
    assert "IQ4_XS is not supported" in capsys.readouterr().err


def _verify_args(contract):
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    return parser.parse_args([str(contract.path)])


def test_out_of_vocabulary_prompt_id_is_usage_error(tmp_path, capsys):
    doc = document([determinism("FALSIFY-T-DET-001", ["cpu-reference"])])
    doc["prompts"]["a"] = [1, 2, 32]  # the stand-in model's vocabulary is 0..31
    contract = write_contract(tmp_path, doc)
    assert verify.run(_verify_args(contract), runner_options=null_options(contract, tmp_path)) == 2
    assert "prompt a: token id 32 is outside model tiny's vocabulary 0..31" in capsys.readouterr().err
    doc["prompts"]["a"] = [1, 2, 31]
    contract = write_contract(tmp_path, doc)
    assert verify.run(_verify_args(contract), runner_options=null_options(contract, tmp_path)) == 0


@pytest.mark.parametrize(
    "raised, code, says",
    [
        (KeyboardInterrupt, 130, "harness validate: interrupted"),
        (RuntimeError("boom"), 4, "internal error"),
    ],
)
def test_interrupt_and_crash_exit_codes(monkeypatch, capsys, raised, code, says):
    def explode(args):
        raise raised

    monkeypatch.setattr(validate, "run", explode)
    assert main(["validate", str(CPU_CONTRACT)]) == code
    err = capsys.readouterr().err
    assert says in err
    assert ("Traceback" in err) == (code == 4)


def test_broken_pipe_exits_quietly():
    script = textwrap.dedent("""
        import sys
        from harness import cli
        from harness.commands import validate
        def flood(args):
            for _ in range(100000):
                print("x" * 100)
            return 0
        validate.run = flood
        sys.exit(cli.main(["validate", "any.yaml"]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""


@pytest.mark.parametrize("text", ["1,,2", ",1", "1,", "1, ,2"])
def test_tokens_with_an_empty_item_are_refused(text):
    with pytest.raises(UsageError, match="empty item"):
        parse_tokens(text, 100)
    assert parse_tokens("1, 2,3", 100) == [1, 2, 3]


def test_run_refuses_a_context_overflow_before_the_work(tiny_model_path, capsys):
    tokens = ",".join(["1"] * 250)  # tiny: context 256
    assert (
        main(["run", "--model", str(tiny_model_path), "--backend", "cpu", "--tokens", tokens, "--generate", "10"]) == 2
    )
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "259 positions exceed the model's context length 256" in err


def test_corrupt_cached_model_is_regenerated(tmp_path, caplog):
    first = cache.cached_model("tiny", 3, tmp_path)
    good = cache.file_sha256(first)
    assert cache.sidecar(first).read_text().strip() == good
    data = bytearray(first.read_bytes())
    data[-100] ^= 0xFF  # one flipped bit pattern in the weights
    first.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = cache.cached_model("tiny", 3, tmp_path)
    assert again == first and cache.file_sha256(again) == good
    assert "does not match its recorded sha256" in caplog.text
