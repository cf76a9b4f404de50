"""Semantic lint: version drift, dangling / duplicate ids, ranges, levels, waivers, quorums."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.contract.errors import ERROR, WARNING
from harness.contract.lint import lint
from harness.contract.loader import check_file
from harness.contract.yaml_lines import load_yaml
from tests.contract_text import CPU_CONTRACT, GPU_CONTRACT, SHIPPED, edit, gpu_text, line_of, write

DETERMINISM = "- id: FALSIFY-QW3-MOE-GPU-DETERMINISM-001"
WAIVER = """waivers:
  - falsifier: FALSIFY-QW3-MOE-GPU-PARITY-001
    cell: {cell}
    owner: someone
    reason: driver bug under investigation
    expires: "{expires}"
"""


def _issues(tmp_path, text, severity=ERROR):
    _, issues = check_file(write(tmp_path, text))
    return [i for i in issues if i.severity == severity]


def _only(tmp_path, text, severity=ERROR):
    issues = _issues(tmp_path, text, severity)
    assert len(issues) == 1, [str(i) for i in issues]
    return issues[0]


def test_lint_shipped_contracts_are_clean():
    for path in SHIPPED:
        contract, issues = check_file(path)
        assert contract is not None and issues == []


def test_lint_version_drift_names_version_line(tmp_path):
    text = edit(gpu_text(), 'version: "1.1.0"\nstatus', 'version: "1.1.1"\nstatus')
    issue = _only(tmp_path, text)
    assert issue.path == "$.version" and issue.line == line_of(text, 'version: "1.1.1"')
    assert "'1.1.0'" in issue.message and "drifts" in issue.message


def test_lint_amendment_history_must_increase_in_version_and_date(tmp_path):
    entry = (
        '    - version: "0.9.0"\n      date: "2026-11-27"\n      author: a\n'
        "      change: later entry with an older version\n"
    )
    last = "        host-loop figure (logits to the host every token) is recorded beside it.\n"
    text = edit(gpu_text(), last, last + entry)
    text = edit(text, 'version: "1.1.0"\nstatus', 'version: "0.9.0"\nstatus')
    paths = {i.path: i for i in _issues(tmp_path, text)}
    assert "$.metadata.amendment_history[2].version" in paths
    assert paths["$.metadata.amendment_history[2].version"].line == line_of(text, '- version: "0.9.0"')
    text = edit(text, 'date: "2026-11-27"', 'date: "2026-11-25"')
    paths = {i.path for i in _issues(tmp_path, text)}
    assert "$.metadata.amendment_history[2].date" in paths


@pytest.mark.parametrize(
    "old, new, path",
    [
        (
            "devices: [cpu-reference, lavapipe, nvidia-vulkan, apple-metal, amd-vulkan, intel-arc]\n"
            "    if_fails: Look for atomics",
            "devices: [cpu-reference, lavapipe, nvidia-vulkan, apple-metal, amd-vulkan, intel-ark]\n"
            "    if_fails: Look for atomics",
            "$.falsifiers[4].devices[5]",
        ),
        ("      prompts: [greeting]\n", "      prompts: [greting]\n", "$.falsifiers[4].params.prompts[0]"),
        (
            "model: qwen3-30b-a3b\n    thresholds:\n      - {metric: weight",
            "model: qwen3-30b\n    thresholds:\n      - {metric: weight",
            "$.falsifiers[8].params.model",
        ),
        (
            "reference: cpu-reference\n      prompts: [greeting, repeat]\n",
            "reference: cpu-ref\n      prompts: [greeting, repeat]\n",
            "$.falsifiers[1].params.reference",
        ),
        ("  default: tiny", "  default: tinny", "$.models.default"),
        (
            "- pass: {falsifiers: [FALSIFY-QW3-MOE-GPU-PARITY-001], cells: [intel-arc]}",
            "- pass: {falsifiers: [FALSIFY-QW3-MOE-GPU-PARITY-001], cells: [intel-ark]}",
            "$.levels.ACTIVE_RUNTIME.all_of[1].quorum.of[2].pass.cells[0]",
        ),
    ],
)
def test_lint_dangling_ids_name_line_and_path(tmp_path, old, new, path):
    text = edit(gpu_text(), old, new)
    issue = _only(tmp_path, text)
    assert issue.path == path and "unknown" in issue.message
    assert issue.line == line_of(text, new.split("\n")[0] + "\n")


def test_lint_level_naming_undefined_falsifier(tmp_path):
    text = edit(
        gpu_text(),
        "[FALSIFY-QW3-MOE-GPU-PARITY-001], cells: [amd-vulkan]",
        "[FALSIFY-QW3-MOE-GPU-PARITY-009], cells: [amd-vulkan]",
    )
    issue = _only(tmp_path, text)
    assert issue.path == "$.levels.ACTIVE_RUNTIME.all_of[1].quorum.of[1].pass.falsifiers[0]"
    assert issue.line == line_of(text, "PARITY-009") and "unknown falsifier" in issue.message


def test_lint_duplicate_ids(tmp_path):
    text = edit(gpu_text(), "- id: FALSIFY-QW3-MOE-GPU-MEMORY-001", "- id: FALSIFY-QW3-MOE-GPU-PARITY-001")
    text = edit(text, "  - id: amd-vulkan", "  - id: apple-metal")
    paths = {i.path: i for i in _issues(tmp_path, text)}
    assert paths["$.falsifiers[8].id"].line == line_of(text, "- id: FALSIFY-QW3-MOE-GPU-PARITY-001", 1)
    assert "duplicate id" in paths["$.devices[4].id"].message


def test_lint_status_needs_its_level(tmp_path):
    text = edit(CPU_CONTRACT.read_text(), "status: DRAFT", "status: ACTIVE_RUNTIME")
    issue = _only(tmp_path, text)
    assert issue.path == "$.status" and "levels.ACTIVE_RUNTIME" in issue.message


@pytest.mark.parametrize(
    "metric, comparator, value",
    [
        ("cosine_min", ">=", 1.5),
        ("nmse_max", "<=", -1.0e-7),
        ("argmax_agreement", ">=", 2),
        ("decode_tok_s_median", ">=", 0),
        ("device_bytes", "<=", -1),
        ("max_abs_diff", "<=", ".inf"),
        ("wobble", "<=", ".nan"),
    ],
)
def test_lint_threshold_out_of_range(tmp_path, metric, comparator, value):
    old = '{metric: max_abs_diff, comparator: "<=", value: 0.0}'
    new = f'{{metric: {metric}, comparator: "{comparator}", value: {value}}}'
    text = edit(gpu_text(), old, new)
    issue = _only(tmp_path, text)
    assert issue.path == "$.falsifiers[4].thresholds[0].value"
    assert "outside" in issue.message or "not a finite number" in issue.message
    assert issue.line == line_of(text, new)


def test_lint_unknown_metric_family_is_a_warning(tmp_path):
    text = edit(gpu_text(), "{metric: max_abs_diff,", "{metric: wobble,")
    assert _issues(tmp_path, text) == []
    assert "no known metric family" in _only(tmp_path, text, WARNING).message


def test_lint_pass_leaf_on_unlisted_cell(tmp_path):
    text = edit(
        gpu_text(),
        "FALSIFY-QW3-MOE-GPU-OP-MOE-FFN-001]\n          cells: [lavapipe]",
        "FALSIFY-QW3-MOE-GPU-THROUGHPUT-001]\n          cells: [lavapipe]",
    )
    issue = _only(tmp_path, text)
    assert "does not run on ['lavapipe']" in issue.message
    assert issue.line == line_of(text, "FALSIFY-QW3-MOE-GPU-THROUGHPUT-001]\n")


def test_lint_quorum_min_above_options(tmp_path):
    text = edit(gpu_text(), "min: 2", "min: 5")
    issue = _only(tmp_path, text)
    assert issue.path == "$.levels.ACTIVE_RUNTIME.all_of[1].quorum.min"
    assert issue.line == line_of(text, "min: 5") and "exceeds the 4 options" in issue.message


def test_lint_bad_name_pattern(tmp_path):
    text = edit(gpu_text(), 'name_pattern: "(?i)arc"', 'name_pattern: "(arc"')
    issue = _only(tmp_path, text)
    assert issue.path == "$.devices[5].selector.name_pattern" and "regular expression" in issue.message


def test_lint_expired_waiver_is_a_warning_not_an_error(tmp_path):
    text = edit(gpu_text(), "waivers: []\n", WAIVER.format(cell="lavapipe", expires="2000-01-01"))
    contract, issues = check_file(write(tmp_path, text))
    assert contract is not None
    (warning,) = issues
    assert warning.severity == WARNING and warning.path == "$.waivers[0].expires"
    assert warning.line == line_of(text, 'expires: "2000-01-01"')


def test_lint_waiver_expiry_judged_against_today():
    text = edit(gpu_text(), "waivers: []\n", WAIVER.format(cell="lavapipe", expires="2030-06-01"))
    file = str(GPU_CONTRACT)  # beside the shipped fixtures
    data, lines = load_yaml(text, file)
    assert lint(data, file, lines, today=dt.date(2030, 6, 1)) == []
    (late,) = lint(data, file, lines, today=dt.date(2030, 6, 2))
    assert late.severity == WARNING and late.path == "$.waivers[0].expires"


def test_lint_waiver_on_cell_the_falsifier_skips(tmp_path):
    text = edit(gpu_text(), "waivers: []\n", WAIVER.format(cell="cpu-reference", expires="2999-01-01"))
    issue = _only(tmp_path, text)
    assert issue.path == "$.waivers[0].cell" and "nothing to waive" in issue.message


def test_lint_parity_against_its_own_cell(tmp_path):
    old = "      reference: cpu-reference\n      prompts: [greeting, repeat, single]\n"
    text = edit(gpu_text(), old, old.replace("cpu-reference", "lavapipe"))
    issue = _only(tmp_path, text)
    assert issue.path == "$.falsifiers[0].devices[0]" and "with itself" in issue.message


def test_lint_op_parity_on_cpu_without_f64_reference_warns(tmp_path):
    text = edit(gpu_text(), "      op: expert_swiglu\n", "      op: expert_swiglu\n      reference: cpu\n")
    text = edit(
        text,
        "devices: [lavapipe, nvidia-vulkan, apple-metal, amd-vulkan, intel-arc]\n    if_fails: Check the gate/up",
        "devices: [cpu-reference, lavapipe]\n    if_fails: Check the gate/up",
    )
    assert _issues(tmp_path, text) == []  # the engine ERRORs the job; the lint warns
    issue = _only(tmp_path, text, WARNING)
    assert issue.path == "$.falsifiers[5].devices[0]" and "could never fail" in issue.message
    assert issue.line == line_of(text, "devices: [cpu-reference, lavapipe]")


def test_lint_missing_oracle_fixture_is_a_warning(tmp_path):
    contract, issues = check_file(write(tmp_path, gpu_text(), fixtures=False))
    assert contract is not None
    (warning,) = issues
    assert warning.path == "$.falsifiers[2].params.fixture" and "not found" in warning.message
