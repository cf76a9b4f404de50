"""`harness import pv`: a contract in paiml/aprender's pv format (tests/data, written for these
tests) becomes a valid harness contract; unmapped parts are lint-reported todos; the output path
never replaces an input; the imported falsifiers run and judge with the upstream tolerances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.contract.errors import WARNING
from harness.contract.loader import check_file
from harness.importers.pv_map import known_ending
from harness.importers.pv_read import PvTest

ROOT = Path(__file__).resolve().parents[1]
PV = ROOT / "tests" / "data" / "pv-qwen3-moe-forward-gpu.yaml"
TEMPLATE = ROOT / "contracts" / "qwen3-moe-forward-gpu-v1.yaml"
MAPPED = [
    "FALSIFY-QW3-MOE-GPU-PARITY-001",
    "FALSIFY-QW3-MOE-GPU-PARITY-002",
    "FALSIFY-QW3-MOE-GPU-INVARIANTS-001",
    "FALSIFY-QW3-MOE-GPU-REPRO-007",
    "FALSIFY-QW3-MOE-GPU-THROUGHPUT-001",
    "FALSIFY-QW3-MOE-GPU-MEMORY-001",
]
TODO = [
    "FALSIFY-QW3-MOE-GPU-ROPE-001",
    "FALSIFY-QW3-MOE-GPU-LOAD-003",
    "PO-QW3-ROPE",
    "KANI-QW3-ROUTER-001",
    "KANI-QW3-ROPE-001",
    "QA-QW3-MOE-GPU",
]


def _import(tmp_path, upstream=PV, out=None, *extra):
    out = out or tmp_path / "imported.yaml"
    return main(["import", "pv", str(upstream), "--out", str(out), *map(str, extra)]), out


def _thresholds(contract, fid):
    return {(t.metric, t.comparator): t.value for t in contract.falsifier(fid).thresholds}


def test_import_writes_a_valid_contract_keeping_the_upstream_record(tmp_path):
    code, out = _import(tmp_path)
    assert code == 0
    contract, issues = check_file(out)
    assert contract is not None, [str(i) for i in issues]
    assert (contract.name, contract.version, contract.status) == ("qwen3-moe-forward-gpu-v1", "1.8.0", "DRAFT")
    history = contract.data["metadata"]["amendment_history"]
    assert [h["version"] for h in history] == ["1.0.0", "1.7.0", "1.8.0"]
    assert history[1]["author"] == "Example Team"  # filled from metadata.author
    assert "pv status: active" in contract.data["metadata"]["description"]
    assert any("sha256" in r for r in contract.data["metadata"]["references"])
    eqs = {e["id"]: e["text"] for e in contract.data["equations"]}
    assert eqs["EQ-RMSNORM"] == "y = x / sqrt(mean(x^2) + eps) * g"
    pos = {p["id"]: p for p in contract.data["proof_obligations"]}
    assert pos["PO-QW3-ROUTER"]["falsifiers"] == ["FALSIFY-QW3-MOE-GPU-INVARIANTS-001"]
    assert "tolerance 1e-06" in pos["PO-QW3-ROUTER"]["statement"]


def test_known_tests_map_to_falsifiers_and_the_rest_are_lint_reported_todos(tmp_path):
    _, out = _import(tmp_path)
    contract, issues = check_file(out)
    assert [f.id for f in contract.falsifiers] == MAPPED
    kinds = [f.kind for f in contract.falsifiers]
    assert kinds == ["parity", "oracle", "invariant", "determinism", "throughput", "memory"]
    assert [t["id"] for t in contract.data["todo"]] == TODO
    todo_warnings = [i for i in issues if i.severity == WARNING and i.path.startswith("$.todo")]
    assert len(todo_warnings) == len(TODO)
    assert "rope_neox" in todo_warnings[0].message  # the upstream shell test, kept as text
    text = out.read_text()
    assert "# upstream test (not run): cargo test -p realizar router_weights_sum" in text


def test_thresholds_come_from_the_obligation_tolerance(tmp_path):
    _, out = _import(tmp_path)
    contract, _ = check_file(out)
    assert _thresholds(contract, MAPPED[0])[("max_abs", "<=")] == 1e-3  # PO-QW3-PARITY
    assert _thresholds(contract, MAPPED[1])[("max_abs", "<=")] == 2e-3  # PO-QW3-ORACLE
    assert _thresholds(contract, MAPPED[5])[("weight_expansion_ratio", "<=")] == pytest.approx(1.02)
    # no tolerance: the template's threshold stands
    assert _thresholds(contract, MAPPED[4])[("decode_tok_s_median", ">=")] == 150
    assert _thresholds(contract, MAPPED[3])[("max_abs_diff", "<=")] == 0.0


def test_imported_falsifiers_run_and_judge_with_the_upstream_tolerance(tmp_path, capsys):
    _, out = _import(tmp_path)
    run = ["verify", str(out), "--device", "cpu-reference", "--format", "json"]
    assert main(run) == 0
    jobs = {j["falsifier"]: j for j in json.loads(capsys.readouterr().out)["predicate"]["jobs"] if j["counted"]}
    assert {jobs[f]["verdict"] for f in (MAPPED[1], MAPPED[2], MAPPED[3])} == {"PASS"}
    # planted: an oracle tolerance no real implementation meets; the imported oracle must FAIL
    strict = tmp_path / "strict.yaml"
    strict.write_text(PV.read_text().replace("tolerance: 2.0e-3", "tolerance: 1.0e-12"))
    code, out2 = _import(tmp_path, strict, tmp_path / "strict-out.yaml")
    assert code == 0 and main(run[:1] + [str(out2)] + run[2:]) == 1
    failed = [j for j in json.loads(capsys.readouterr().out)["predicate"]["jobs"] if j["verdict"] == "FAIL"]
    assert [j["falsifier"] for j in failed] == [MAPPED[1]]


def test_out_never_replaces_an_input(tmp_path, capsys):
    upstream = tmp_path / "up.yaml"
    upstream.write_bytes(PV.read_bytes())
    for target in (upstream, tmp_path / "." / "up.yaml", TEMPLATE):
        before = target.read_bytes()
        code, _ = _import(tmp_path, upstream, target, "--force")
        assert code == 2 and target.read_bytes() == before
    assert "it would be overwritten" in capsys.readouterr().err
    existing = tmp_path / "taken.yaml"
    existing.write_text("keep me\n")
    assert _import(tmp_path, upstream, existing)[0] == 2 and existing.read_text() == "keep me\n"
    assert _import(tmp_path, upstream, existing, "--force")[0] == 0
    assert check_file(existing)[0] is not None


@pytest.mark.parametrize(
    "text, needle",
    [
        ("metadata: {version: '1.0.0'}\nfalsification_tests: [\n", "YAML syntax error"),
        ("metadata: {version: '1.0.0'}\nmetadata: {}\nequations: {}\n", "duplicate"),
        ("just: a mapping\n", "no `metadata` mapping"),
        ("metadata: {version: 'one'}\nequations: {}\n", "is not a version like 1.8.0"),
        (
            "metadata: {version: '1.0.0'}\nfalsification_tests: [{id: FALSIFY-X-001, rule: shader lint}]\n",
            "no falsification test maps",
        ),
    ],
)
def test_bad_upstream_is_exit_2_and_writes_nothing(tmp_path, capsys, text, needle):
    upstream = tmp_path / "bad.yaml"
    upstream.write_text(text)
    code, out = _import(tmp_path, upstream)
    assert code == 2 and not out.exists()
    assert needle in capsys.readouterr().err


def test_bad_amendment_entries_become_todos_and_the_output_still_validates(tmp_path):
    text = PV.read_text().replace(
        'version: "1.7.0"\n      date: "2026-03-02"', 'version: "1.7.0"\n      date: "March 2nd"'
    )
    upstream = tmp_path / "up.yaml"
    upstream.write_text(text)
    code, out = _import(tmp_path, upstream)
    contract, issues = check_file(out)
    assert code == 0 and contract is not None, [str(i) for i in issues]
    assert [h["version"] for h in contract.data["metadata"]["amendment_history"]] == ["1.0.0", "1.8.0"]
    assert "amendment-2" in [t["id"] for t in contract.data["todo"]]


@pytest.mark.parametrize(
    "tid, rule, ending",
    [
        ("FALSIFY-X-PARITY-002", "anything", "PARITY-002"),
        ("FALSIFY-X-007", "decode throughput of the model", "THROUGHPUT-001"),
        ("FALSIFY-X-008", "parity and memory both", None),  # names two claims: not guessed
        ("FALSIFY-X-009", "shader compiles", None),
    ],
)
def test_tests_are_known_by_id_ending_or_an_unambiguous_rule(tid, rule, ending):
    assert known_ending(PvTest(tid, rule, "", "", "", ""))[0] == ending
