"""Strict loading: YAML 1.2 only, duplicate keys, quoted versions, line map, dataclasses."""

from __future__ import annotations

import pytest

from harness.contract import ContractError, contract_from_dict, load_contract
from harness.contract.model import LEVEL_LADDER, Contract
from harness.contract.yaml_lines import json_path, load_yaml
from tests.contract_text import CPU_CONTRACT, GPU_CONTRACT, edit, gpu_text, line_of, write


def test_load_contract_exemplar_builds_dataclasses():
    c = load_contract(GPU_CONTRACT)
    assert isinstance(c, Contract) and c.name == "qwen3-moe-forward-gpu-v1"
    assert c.version == "1.1.0" and c.status == "DRAFT" and c.schema_version == 1
    assert c.raw == GPU_CONTRACT.read_bytes()
    assert [d.id for d in c.devices][:2] == ["cpu-reference", "lavapipe"]
    assert c.cell("apple-metal").selector == {"vendor_id": 0x106B, "backend_type": "Metal"}
    parity = c.falsifier("FALSIFY-QW3-MOE-GPU-PARITY-001")
    assert parity.thresholds[0].metric == "cosine_min" and parity.thresholds[0].value == 0.99
    assert "heavy" in c.falsifier("FALSIFY-QW3-MOE-GPU-THROUGHPUT-001").tags
    assert list(c.levels) == [lv for lv in LEVEL_LADDER if lv in c.levels]
    assert set(c.levels["ACTIVE_RUNTIME"].predicate) == {"all_of"}
    assert c.levels["ACTIVE_RUNTIME"].freshness_days == 30
    assert c.models["tiny"].preset == "tiny" and c.default_model == "tiny"
    assert c.prompts["single"] == (404,)


def test_load_contract_cpu_contract_has_only_the_reference_cell():
    c = load_contract(CPU_CONTRACT)
    assert [d.id for d in c.devices] == ["cpu-reference"]
    assert all(f.devices == ("cpu-reference",) for f in c.falsifiers)


def test_load_yaml_duplicate_key_names_line_and_path(tmp_path):
    text = edit(gpu_text(), "      runs: 2\n", "      runs: 2\n      runs: 3\n")
    with pytest.raises(ContractError) as exc:
        load_contract(write(tmp_path, text))
    issue = exc.value.issues[0]
    assert issue.line == line_of(text, "runs: 3")
    assert issue.path.startswith("$.falsifiers[") and issue.path.endswith(".params.runs")
    assert "duplicate key 'runs'" in issue.message


def test_load_yaml_reports_every_duplicate():
    text = "a: 1\nb: {c: 1}\na: 2\nb: 3\n"
    with pytest.raises(ContractError) as exc:
        load_yaml(text, "x.yaml")
    assert [(i.line, i.path) for i in exc.value.issues] == [(3, "$.a"), (4, "$.b")]


def test_load_yaml_yaml11_words_stay_strings():
    data, _ = load_yaml("a: yes\nb: on\nc: no\nd: off\ne: y\n", "x.yaml")
    assert data == {"a": "yes", "b": "on", "c": "no", "d": "off", "e": "y"}


def test_load_yaml_yaml11_directive_rejected():
    with pytest.raises(ContractError, match="YAML 1.2 only"):
        load_yaml("%YAML 1.1\n---\na: yes\n", "x.yaml")


def test_load_yaml_several_documents_rejected():
    with pytest.raises(ContractError, match="exactly one YAML document"):
        load_yaml("a: 1\n---\nb: 2\n", "x.yaml")


def test_load_yaml_syntax_error_names_line():
    with pytest.raises(ContractError) as exc:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "x.yaml")
    assert exc.value.issues[0].line is not None and "YAML syntax error" in str(exc.value)


def test_load_yaml_dates_become_iso_text():
    data, _ = load_yaml("d: 2026-01-02\n", "x.yaml")
    assert data == {"d": "2026-01-02"}


def test_load_contract_unquoted_float_version_names_line(tmp_path):
    text = edit(gpu_text(), 'version: "1.1.0"\nstatus', "version: 1.10\nstatus")
    with pytest.raises(ContractError) as exc:
        load_contract(write(tmp_path, text))
    issue = exc.value.issues[0]
    assert issue.line == line_of(text, "version: 1.10") and issue.path == "$.version"
    assert "version must be a quoted string" in issue.message and "1.10" in issue.message


def test_load_contract_error_names_file_line_and_path(tmp_path):
    text = edit(gpu_text(), "value: 1.05}", "value: big}")
    path = write(tmp_path, text)
    with pytest.raises(ContractError) as exc:
        load_contract(path)
    assert str(exc.value).startswith(f"{path}:{line_of(text, 'value: big')}: $.falsifiers[8]")


def test_load_contract_unreadable_file_is_a_contract_error(tmp_path):
    with pytest.raises(ContractError, match="cannot read contract"):
        load_contract(tmp_path / "missing.yaml")


def test_contract_from_dict_rebuilds_the_same_contract():
    c = load_contract(GPU_CONTRACT)
    again = contract_from_dict(c.data, c.path, c.raw)
    assert again == c


def test_contract_from_dict_reports_paths_without_lines():
    data = load_contract(GPU_CONTRACT).data
    bad = {**data, "status": "ACTIVE"}
    with pytest.raises(ContractError) as exc:
        contract_from_dict(bad, "report.json", b"")
    issue = exc.value.issues[0]
    assert issue.line is None and issue.path == "$.status"
    assert str(issue).startswith("report.json: $.status:")


@pytest.mark.parametrize(
    "parts, expected",
    [
        ((), "$"),
        (("falsifiers", 2, "thresholds", 0, "value"), "$.falsifiers[2].thresholds[0].value"),
        (("levels", "ACTIVE_RUNTIME"), "$.levels.ACTIVE_RUNTIME"),
        (("prompts", "two words"), "$.prompts['two words']"),
    ],
)
def test_json_path_formats_parts(parts, expected):
    assert json_path(parts) == expected


def test_load_yaml_recursive_alias_rejected():
    with pytest.raises(ContractError, match="recursive YAML alias") as exc:
        load_yaml("a: &x [1, *x]\n", "x.yaml")
    assert exc.value.issues[0].path == "$.a[1]"


def test_load_contract_reports_each_missing_key_once(tmp_path):
    path = write(tmp_path, "schema_version: 1\n")
    with pytest.raises(ContractError) as exc:
        load_contract(path)
    messages = [i.message for i in exc.value.issues]
    assert len(messages) == len(set(messages)) and "missing required key 'falsifiers'" in messages


def test_load_contract_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ContractError, match="expected a YAML mapping"):
        load_contract(write(tmp_path, "- 1\n- 2\n"))


def test_load_yaml_custom_tags_refused():
    with pytest.raises(ContractError, match="unsupported YAML tag") as exc:
        load_yaml("a: 1\nb: !!python/object:os.system x\n", "x.yaml")
    assert exc.value.issues[0].line == 2
