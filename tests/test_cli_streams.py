"""Conventional CLI streams: primary output on stdout, diagnostics and progress on stderr;
--format text|json and --quiet on every command; a JSON error object under --format json; no
wgpu/Mesa environment noise; progress as plain lines when stderr is no terminal."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from harness.cli import _leaf_parsers, build_parser, main
from harness.trust import keys
from tests.contract_text import GPU_CONTRACT, SHIPPED, edit, gpu_text, write
from tests.test_report import contract_path, run_verify  # noqa: F401 (fixture)
from tests.cli_support import harness_process

ROOT = Path(__file__).resolve().parents[1]


def _leaves():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for sub in commands.choices.values():
        for leaf in _leaf_parsers(sub):
            yield leaf.prog, leaf


@pytest.mark.parametrize("prog, leaf", list(_leaves()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_has_format_text_json_and_quiet(prog, leaf):
    options = {opt: a for a in leaf._actions for opt in a.option_strings}
    if prog.endswith("completion"):  # prints a shell script: no text/json alternative
        assert "--quiet" in options
        return
    assert {"text", "json"} <= set(options["--format"].choices), prog
    assert options["--format"].default == "text", prog
    assert "--quiet" in options and "-q" in options, prog


def test_list_table_goes_to_stdout_and_nothing_to_stderr_without_xdg_runtime_dir():
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    done = harness_process("list", GPU_CONTRACT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "FALSIFY-QW3-MOE-GPU-PARITY-001" in done.stdout and "cpu-reference" in done.stdout
    assert "XDG_RUNTIME_DIR" not in done.stderr
    assert done.stderr == ""


def _error(out: str) -> dict:
    return json.loads(out)["error"]


def test_json_error_object_on_stdout(tmp_path, capsys):
    bad = write(tmp_path, edit(gpu_text(), "status: DRAFT", "status: NOPE"))
    cases = [
        (["list", str(bad), "--format", "json"], "list", 2),
        (["verify", str(GPU_CONTRACT), "--format", "json", "--device", "nope"], "verify", 2),
        (["audit", str(tmp_path / "r.json"), "--pubkey", str(tmp_path / "none.pem"), "--format", "json"], "audit", 2),
        (["keys", "export", str(tmp_path / "none.pem"), "--format", "json"], "keys export", 2),
        (
            ["run", "--model", str(tmp_path / "none.gguf"), "--backend", "cpu", "--tokens", "1", "--format", "json"],
            "run",
            2,
        ),
        (
            [
                "merge",
                str(tmp_path / "r.json"),
                "--out",
                str(tmp_path / "m.json"),
                "--pubkey",
                str(tmp_path / "none.pem"),
                "--format",
                "json",
            ],
            "merge",
            2,
        ),
    ]
    for argv, command, code in cases:
        assert main(argv) == code, argv
        captured = capsys.readouterr()
        error = _error(captured.out)
        assert error["command"] == command and error["exit_code"] == code, argv
        assert error["message"] and error["message"] in captured.err, argv


def test_text_errors_leave_stdout_empty(tmp_path, capsys):
    assert main(["keys", "export", str(tmp_path / "none.pem")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot read key file" in captured.err


def test_quiet_validate_prints_only_problems(tmp_path, capsys):
    assert main(["validate", "--quiet", *map(str, SHIPPED)]) == 0
    assert capsys.readouterr() == ("", "")
    bad = write(tmp_path, edit(gpu_text(), "status: DRAFT", "status: NOPE"))
    assert main(["-q", "validate", str(bad)]) == 2
    assert "status: NOPE" not in (out := capsys.readouterr().out) and f"INVALID {bad}" in out


def test_keys_gen_prints_keyid_on_stdout_text_and_json(tmp_path, capsys):
    assert main(["keys", "gen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "p")]) == 0
    keyid = capsys.readouterr().out.split()[-1]
    assert keyid == keys.load_verifier(tmp_path / "p").keyid
    assert (
        main(["keys", "gen", "--private", str(tmp_path / "k2"), "--public", str(tmp_path / "p2"), "--format", "json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["keyid"] == keys.load_verifier(tmp_path / "p2").keyid


def test_verify_progress_is_plain_lines_in_a_log_and_quiet_drops_it(tmp_path, contract_path, capsys):  # noqa: F811
    assert run_verify(tmp_path, contract_path, format="text") == 1
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("verify: job ")]
    assert lines and lines[0].startswith("verify: job 1/")
    assert "decision: exit 1" in captured.out  # the table is on stdout
    assert run_verify(tmp_path, contract_path, format="table", quiet=True) == 1  # old name
    captured = capsys.readouterr()
    assert captured.err == "" and "decision: exit 1" in captured.out


def test_argparse_usage_error_under_format_json_is_a_json_error_too(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["audit", "r.json", "--format", "json"])  # --pubkey missing
    captured = capsys.readouterr()
    error = _error(captured.out)
    assert exc.value.code == 2 and error["exit_code"] == 2 and error["command"] == "audit"
    assert "--pubkey" in error["message"] and "--pubkey" in captured.err
    with pytest.raises(SystemExit):
        main(["audit", "r.json"])  # text: stdout stays empty
    assert capsys.readouterr().out == ""
