"""Issue 16 items 1 and 7: no output destroys an input, another output or a key; finished work is
printed before an output that cannot be written fails (with the output's path)."""

from __future__ import annotations

import argparse
import os
import shutil
import stat
from pathlib import Path

import pytest

from harness.cli import main
from harness.commands import verify
from harness.output_paths import OutputPathError, check_outputs
from harness.trust import keys
from harness.trust.errors import KeyFileError
from tests import trust_factory as tf
from tests.engine_support import determinism, document, null_options, write_contract

ROOT = Path(__file__).resolve().parents[1]
CPU_CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-v1.yaml"


@pytest.fixture()
def files(tmp_path):
    contract = tmp_path / "c.yaml"
    shutil.copyfile(CPU_CONTRACT, contract)
    signer = keys.generate()
    key = tmp_path / "k.pem"
    key.write_bytes(keys.private_pem(signer))
    key.chmod(0o600)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF not really")
    return tmp_path, contract, key, model


def _snapshot(*paths):
    return {p: p.read_bytes() for p in paths}


@pytest.mark.parametrize("case", ["contract", "symlink", "hardlink", "model", "key", "same-two"])
def test_verify_refuses_an_output_that_is_an_input_or_a_key(files, case, capsys):
    tmp, contract, key, model = files
    before = _snapshot(contract, key, model)
    argv = ["verify", str(contract)]
    if case == "contract":
        argv += ["--report", str(contract)]
    elif case == "symlink":
        (tmp / "r.json").symlink_to(contract)
        argv += ["--report", str(tmp / "r.json")]
    elif case == "hardlink":
        os.link(contract, tmp / "r.json")
        argv += ["--junit", str(tmp / "r.json")]
    elif case == "model":
        argv += ["--model", str(model), "--report", str(model)]
    elif case == "key":  # not given as --key: still never overwritten
        argv += ["--report", str(key)]
    else:
        argv += ["--report", str(tmp / "out"), "--junit", str(tmp / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "refusing" in err or "same file" in err
    assert _snapshot(contract, key, model) == before
    assert not (tmp / "out").exists()


def test_check_outputs_accepts_distinct_new_files(tmp_path):
    (tmp_path / "in.txt").write_text("x")
    check_outputs({"--report": tmp_path / "r.json", "--junit": tmp_path / "j.xml"}, {"contract": tmp_path / "in.txt"})
    with pytest.raises(OutputPathError, match="directory"):
        check_outputs({"--report": tmp_path / "nowhere" / "r.json"}, {})
    with pytest.raises(OutputPathError, match="is a directory"):
        check_outputs({"--report": tmp_path}, {})


def test_read_only_directory_is_refused_before_the_work(tmp_path, monkeypatch):
    import harness.output_paths as op

    real = os.access
    monkeypatch.setattr(op.os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    with pytest.raises(OutputPathError, match="not writable"):
        check_outputs({"--report": tmp_path / "r.json"}, {})


@pytest.fixture()
def merge_env(tmp_path):
    signer = keys.generate()
    contract = tf.contract_copy(tmp_path)
    pub, key = tmp_path / "p.pem", tmp_path / "k.pem"
    pub.write_bytes(signer.verifier.public_pem())
    key.write_bytes(keys.private_pem(signer))
    key.chmod(0o600)
    cpu = tf.write(tmp_path / "cpu.json", tf.make_predicate(contract, present=("cpu-reference",)), signer)
    lava = tf.write(tmp_path / "lava.json", tf.make_predicate(contract, present=("lavapipe",)), signer)
    return tmp_path, pub, key, cpu, lava


@pytest.mark.parametrize("target", ["key", "input", "pubkey"])
def test_merge_refuses_to_overwrite_its_key_or_inputs(merge_env, target, capsys):
    tmp, pub, key, cpu, lava = merge_env
    out = {"key": key, "input": cpu, "pubkey": pub}[target]
    before = _snapshot(key, cpu, pub)
    assert main(["merge", str(cpu), str(lava), "--out", str(out), "--pubkey", str(pub), "--key", str(key)]) == 2
    assert "refusing" in capsys.readouterr().err
    assert _snapshot(key, cpu, pub) == before


def test_merge_out_unwritable_is_a_message_not_a_traceback(merge_env, monkeypatch, capsys):
    tmp, pub, key, cpu, lava = merge_env
    import harness.trust.report_file as rf

    def refuse(path, data, **kw):
        raise PermissionError(13, "Permission denied", str(Path(path).parent / ".tmpXYZ"))

    monkeypatch.setattr(rf, "write_atomic", refuse)
    rc = main(["merge", str(cpu), str(lava), "--out", str(tmp / "m.json"), "--pubkey", str(pub), "--key", str(key)])
    err = capsys.readouterr().err
    assert rc == 4
    assert f"--out {tmp / 'm.json'}" in err and "Permission denied" in err
    assert "Traceback" not in err and ".tmpXYZ" not in err


def test_private_keys_are_0600_and_a_readable_one_is_refused(tmp_path, capsys):
    priv, pub = tmp_path / "k.pem", tmp_path / "p.pem"
    assert main(["keys", "gen", "--private", str(priv), "--public", str(pub)]) == 0
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert keys.load_signer(priv) is not None
    priv.chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        keys.load_signer(priv)
    assert (
        main(["keys", "gen", "--private", str(tmp_path / "x.pem"), "--public", str(tmp_path / "sub" / ".." / "x.pem")])
        == 2
    )


def test_verify_prints_the_verdicts_before_failing_to_write(tmp_path, monkeypatch, capsys):
    contract = write_contract(tmp_path, document([determinism("FALSIFY-T-DET-001", ["cpu-reference"])]))
    parser = argparse.ArgumentParser()
    verify.add_arguments(parser)
    out = tmp_path / "report.json"
    args = parser.parse_args([str(contract.path), "--report", str(out)])

    def refuse(path, data, **kw):
        raise IsADirectoryError(21, "Is a directory", str(Path(path).parent / ".report.tmp"))

    import harness.trust.report_file as rf

    monkeypatch.setattr(rf, "write_atomic", refuse)
    rc = verify.run(args, runner_options=null_options(contract, tmp_path))
    captured = capsys.readouterr()
    assert rc == 4
    assert "FALSIFY-T-DET-001" in captured.out and "earned level" in captured.out  # printed
    assert f"cannot write --report {out}" in captured.err
    assert ".report.tmp" not in captured.err


def test_model_synth_refuses_to_write_over_a_private_key(files, capsys):
    tmp, contract, key, model = files
    before = key.read_bytes()
    assert main(["model", "synth", "--preset", "tiny", "--seed", "0", "--out", str(key)]) == 2
    assert "holds a private key" in capsys.readouterr().err
    assert key.read_bytes() == before


def test_audit_summary_md_never_appends_to_an_input_or_a_key(tmp_path):
    # --summary-md appends; pointed at the private key or the report it would corrupt them
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    assert main(["keys", "gen", "--private", str(priv), "--public", str(pub)]) == 0
    before = priv.read_bytes()
    report = tmp_path / "r.json"
    report.write_text("{}")
    for target in (priv, report, pub):
        assert main(["audit", str(report), "--pubkey", str(pub), "--summary-md", str(target)]) == 2
    assert priv.read_bytes() == before and report.read_text() == "{}"
