"""`harness merge`: union of partial reports, refusals for mixed or contradicting inputs."""

from __future__ import annotations

import hashlib

import pytest

from harness.cli import main
from harness.judge import FAIL, NOT_RUN
from harness.trust import keys
from harness.trust.report_file import open_report
from tests import trust_factory as tf

PARITY = "FALSIFY-QW3-MOE-GPU-PARITY-001"


@pytest.fixture(scope="module")
def signer():
    return keys.generate()


@pytest.fixture(scope="module")
def merger():
    return keys.generate()


@pytest.fixture()
def env(tmp_path, signer, merger):
    contract = tf.contract_copy(tmp_path)
    pub, key = tmp_path / "p.pem", tmp_path / "m.key"
    pub.write_bytes(signer.verifier.public_pem())
    key.write_bytes(keys.private_pem(merger))
    key.chmod(0o600)  # a group/world-readable private key is refused
    (tmp_path / "m.pem").write_bytes(merger.verifier.public_pem())
    cpu = tf.write(tmp_path / "cpu.json", tf.make_predicate(contract, present=("cpu-reference",)), signer)
    lava = tf.write(tmp_path / "lava.json", tf.make_predicate(contract, present=("lavapipe",)), signer)
    return tmp_path, contract, pub, key, cpu, lava


def merge(*argv):
    return main(["merge", *map(str, argv)])


def test_merge_two_partial_reports_is_union_of_cells(env, merger):
    tmp, contract, pub, key, cpu, lava = env
    out = tmp / "merged.json"
    rc = merge(cpu, lava, "--out", out, "--pubkey", pub, "--key", key)
    merged = open_report(out, [merger.verifier]).predicate
    parts = [open_report(p, [keys.load_verifier(pub)]).predicate for p in (cpu, lava)]
    present = {c for p in parts for c, cell in p["cells"].items() if cell["present"]}
    assert {c for c, cell in merged["cells"].items() if cell["present"]} == present
    measured = {(j["falsifier"], j["cell"]): j["verdict"] for p in parts for j in p["jobs"] if j["verdict"] != NOT_RUN}
    got = {(j["falsifier"], j["cell"]): j["verdict"] for j in merged["jobs"]}
    assert {k: v for k, v in got.items() if v != NOT_RUN} == measured
    assert len(got) == len(merged["jobs"])  # one job per pair
    whole = tf.make_predicate(contract, present=tf.ALGORITHM_CELLS)
    assert merged["levels"]["earned"] == whole["levels"]["earned"]
    assert rc == merged["decision"]["exit_code"] == whole["decision"]["exit_code"]


def test_merge_lists_inputs_by_envelope_digest(env, merger):
    tmp, _, pub, key, cpu, lava = env
    merge(cpu, lava, "--out", tmp / "m.json", "--pubkey", pub, "--key", key)
    inputs = open_report(tmp / "m.json", [merger.verifier]).predicate["inputs"]
    assert [i["sha256"] for i in inputs] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in (cpu, lava)]


def test_merge_output_audits_under_merging_key_only(env):
    tmp, contract, pub, key, cpu, lava = env
    merge(cpu, lava, "--out", tmp / "m.json", "--pubkey", pub, "--key", key)
    assert main(["audit", str(tmp / "m.json"), "--pubkey", str(tmp / "m.pem"), "--contract", str(contract)]) == 0
    assert main(["audit", str(tmp / "m.json"), "--pubkey", str(pub)]) == 5


def test_merge_refuses_mixed_contract_digests(env, signer, capsys):
    tmp, contract, pub, key, cpu, _ = env
    other = tf.contract_copy(tmp, "other.yaml")
    other.write_text(other.read_text().replace("value: 0.99}", "value: 0.98}", 1))
    lava = tf.write(tmp / "l2.json", tf.make_predicate(other, present=("lavapipe",)), signer)
    assert merge(cpu, lava, "--out", tmp / "m.json", "--pubkey", pub, "--key", key) == 5
    assert "contract sha256" in capsys.readouterr().err
    assert not (tmp / "m.json").exists()


def test_merge_refuses_mixed_revisions(env, signer, capsys):
    tmp, contract, pub, key, cpu, _ = env
    lava = tf.write(tmp / "l2.json", tf.make_predicate(contract, present=("lavapipe",), commit="f" * 40), signer)
    assert merge(cpu, lava, "--out", tmp / "m.json", "--pubkey", pub, "--key", key) == 5
    assert "revision" in capsys.readouterr().err


def test_merge_refuses_contradicting_verdicts(env, signer, capsys):
    tmp, contract, pub, key, _, lava = env
    bad = tf.write(
        tmp / "bad.json",
        tf.make_predicate(contract, present=("lavapipe",), overrides={(PARITY, "lavapipe"): FAIL}),
        signer,
    )
    assert merge(lava, bad, "--out", tmp / "m.json", "--pubkey", pub, "--key", key) == 5
    assert PARITY in capsys.readouterr().err


def test_merge_keeps_one_copy_of_agreeing_measurements(env, signer, merger):
    tmp, contract, pub, key, cpu, lava = env
    again = tf.make_predicate(contract, present=("lavapipe",))
    again["created"] = "2026-11-26T11:00:00+00:00"  # another run that measured the same
    lava2 = tf.write(tmp / "lava2.json", again, signer)
    merge(lava, cpu, lava2, "--out", tmp / "m.json", "--pubkey", pub, "--key", key)
    jobs = open_report(tmp / "m.json", [merger.verifier]).predicate["jobs"]
    pairs = [(j["falsifier"], j["cell"]) for j in jobs]
    assert len(pairs) == len(set(pairs))


def test_merge_refuses_input_signed_by_untrusted_key(env, capsys):
    tmp, contract, pub, key, cpu, _ = env
    rogue = tf.write(tmp / "rogue.json", tf.make_predicate(contract, present=("lavapipe",)), keys.generate())
    assert merge(cpu, rogue, "--out", tmp / "m.json", "--pubkey", pub, "--key", key) == 5
    assert "rogue.json" in capsys.readouterr().err
    assert not (tmp / "m.json").exists()


def test_merge_scope_is_union_of_input_scopes(tmp_path, signer, merger):
    contract = tf.contract_copy(tmp_path)
    pub = tmp_path / "p.pem"
    pub.write_bytes(signer.verifier.public_pem())
    key = tmp_path / "m.key"
    key.write_bytes(keys.private_pem(merger))
    key.chmod(0o600)  # a group/world-readable private key is refused
    # lavapipe was asked for but absent on its machine: that NOT_RUN must stay counted.
    a = tf.write(
        tmp_path / "a.json", tf.make_predicate(contract, present=("cpu-reference",), scope=("cpu-reference",)), signer
    )
    b = tf.write(tmp_path / "b.json", tf.make_predicate(contract, present=(), scope=("lavapipe",)), signer)
    assert merge(a, b, "--out", tmp_path / "m.json", "--pubkey", pub, "--key", key) == 3
    jobs = open_report(tmp_path / "m.json", [merger.verifier]).predicate["jobs"]
    counted = {j["cell"] for j in jobs if j["verdict"] == NOT_RUN and j["counted"]}
    assert counted == {"lavapipe"}


def test_audit_require_cell_refuses_cell_that_did_not_run(env, merger, capsys):
    tmp, _, pub, key, cpu, lava = env
    merge(cpu, lava, "--out", tmp / "m.json", "--pubkey", pub, "--key", key)
    args = ["audit", str(tmp / "m.json"), "--pubkey", str(tmp / "m.pem"), "--require-cell"]
    assert main(args + ["lavapipe"]) == 0
    assert main(args + ["nvidia-vulkan"]) == 5
    assert "nvidia-vulkan did not run" in capsys.readouterr().out
