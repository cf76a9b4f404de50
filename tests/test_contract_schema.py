"""JSON Schema validation: draft 2020-12, per-kind params, errors mapped to file:line."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from harness.contract.loader import check_file
from harness.contract.schema import schema
from tests.contract_text import edit, gpu_text, line_of, write


def _errors(tmp_path, text):
    contract, issues = check_file(write(tmp_path, text))
    assert contract is None, "expected the edited contract to be invalid"
    return issues


def test_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"].endswith("2020-12/schema")


def test_schema_error_path_mapped_to_line(tmp_path):
    text = edit(
        gpu_text(),
        '{metric: cosine_min, comparator: ">=", value: 0.999}',
        '{metric: cosine_min, comparator: ">=", value: "high"}',
    )
    (issue,) = _errors(tmp_path, text)
    assert issue.path == "$.falsifiers[2].thresholds[0].value"
    assert issue.line == line_of(text, 'value: "high"')


def test_schema_unknown_key_suggests_close_match(tmp_path):
    text = edit(gpu_text(), "    if_fails: Look for atomics", "    if_fail: Look for atomics")
    (issue,) = _errors(tmp_path, text)
    assert issue.line == line_of(text, "if_fail: Look")
    assert issue.path == "$.falsifiers[4].if_fail" and "did you mean 'if_fails'" in issue.message


def test_schema_params_checked_per_kind(tmp_path):
    text = edit(gpu_text(), "      runs: 2\n", "      runs: 1\n      compare: logits\n")
    issues = _errors(tmp_path, text)
    by_path = {i.path: i for i in issues}
    assert by_path["$.falsifiers[4].params.runs"].line == line_of(text, "runs: 1")
    assert "runs >= 2" in by_path["$.falsifiers[4].params.runs"].message
    assert by_path["$.falsifiers[4].params.compare"].line == line_of(text, "compare: logits\n", 1)


def test_schema_missing_required_key_names_the_parent(tmp_path):
    text = edit(gpu_text(), "    claim: two runs of the same prompt give bit-identical logits\n", "")
    (issue,) = _errors(tmp_path, text)
    assert issue.path == "$.falsifiers[4]" and "missing required key 'claim'" in issue.message
    assert issue.line == line_of(text, "- id: FALSIFY-QW3-MOE-GPU-DETERMINISM-001")


def test_schema_wgpu_cell_requires_selector(tmp_path):
    text = edit(gpu_text(), "    selector: {vendor_id: 0x106B, backend_type: Metal}\n", "")
    (issue,) = _errors(tmp_path, text)
    assert issue.path == "$.devices[3]" and "'selector'" in issue.message


@pytest.mark.parametrize(
    "old, new, path, expect",
    [
        ("status: DRAFT", "status: ACTIVE", "$.status", "level ladder"),
        ("backend_type: Metal}", "backend_type: metal}", "$.devices[3].selector.backend_type", "Metal"),
        ("kind: memory", "kind: memroy", "$.falsifiers[8].kind", "op_parity"),
        ("- id: FALSIFY-QW3-MOE-GPU-MEMORY-001", "- id: QW3-MEMORY-001", "$.falsifiers[8].id", "FALSIFY-"),
        (
            'date: "2026-11-26"\n      author: harness-team\n      change: First',
            'date: "26/11/2026"\n      author: harness-team\n      change: First',
            "$.metadata.amendment_history[0].date",
            "ISO date",
        ),
        ("single: [404]", "single: [-1]", "$.prompts.single[0]", "minimum"),
    ],
)
def test_schema_rejects_bad_values_with_expectation(tmp_path, old, new, path, expect):
    text = edit(gpu_text(), old, new)
    issues = _errors(tmp_path, text)
    match = [i for i in issues if i.path == path]
    assert match, [str(i) for i in issues]
    assert expect in match[0].message and match[0].line == line_of(text, new)


def test_schema_reports_all_errors_sorted_by_line(tmp_path):
    text = edit(gpu_text(), "status: DRAFT", "status: ACTIVE")
    text = edit(text, "kind: memory", "kind: memroy")
    issues = _errors(tmp_path, text)
    assert [i.path for i in issues] == ["$.status", "$.falsifiers[8].kind"]
    assert issues[0].line < issues[1].line
