"""Load a contract: strict YAML 1.2 -> JSON Schema -> semantic lint -> frozen dataclasses.

load_contract(path) -> Contract            raises ContractError listing every error
contract_from_dict(data, path, raw)        the same checks on an already-parsed document
                                           (harness audit rebuilds from a report)
check_file(path) -> (Contract | None, issues)   all issues, warnings included (validate)
"""

from __future__ import annotations

from pathlib import Path

from harness.contract import lint, yaml_limits
from harness.contract.errors import ContractError, ContractIssue, errors_only
from harness.contract.model import (
    LEVEL_LADDER,
    Contract,
    DeviceCell,
    Falsifier,
    Level,
    ModelSpec,
    TextPrompt,
    Threshold,
    Waiver,
)
from harness.contract.schema import schema_issues
from harness.contract.yaml_lines import LineMap, load_yaml

_PREDICATE_KEYS = ("all_of", "any_of", "quorum", "pass")


def check_document(data, file: str, lines: LineMap | None = None) -> list[ContractIssue]:
    """Schema errors, then (only if the schema holds) lint errors and warnings."""
    issues = schema_issues(data, file, lines)
    if issues:
        return issues
    return lint.lint(data, file, lines or LineMap())


def check_file(path) -> tuple[Contract | None, list[ContractIssue]]:
    """Every issue in the file at `path` and the Contract when there is no error."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:  # never read more than the bound allows
            raw = handle.read(yaml_limits.MAX_BYTES + 1)
        if len(raw) > yaml_limits.MAX_BYTES:
            return None, [
                ContractIssue(str(path), None, "$", f"contract is over the limit of {yaml_limits.MAX_BYTES} bytes")
            ]
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ContractIssue(str(path), None, "$", f"cannot read contract: {exc}")]
    try:
        data, lines = load_yaml(text, str(path))
    except ContractError as exc:
        return None, exc.issues
    issues = check_document(data, str(path), lines)
    if errors_only(issues):
        return None, issues
    return build_contract(data, path, raw), issues


def load_contract(path) -> Contract:
    """The validated Contract at `path`; raises ContractError naming every error's file:line."""
    contract, issues = check_file(path)
    if contract is None:
        raise ContractError(errors_only(issues))
    return contract


def contract_from_dict(data: dict, path, raw: bytes) -> Contract:
    """Rebuild a Contract from a plain document (no line numbers); raises ContractError."""
    issues = errors_only(check_document(data, str(path)))
    if issues:
        raise ContractError(issues)
    return build_contract(data, Path(path), raw)


def build_contract(data: dict, path: Path, raw: bytes) -> Contract:
    """Frozen dataclasses from a document that passed the schema and the lint."""
    return Contract(
        path=path,
        raw=raw,
        data=data,
        schema_version=data["schema_version"],
        name=data["name"],
        version=data["version"],
        status=data["status"],
        models={mid: _model(mid, spec) for mid, spec in data["models"]["specs"].items()},
        default_model=data["models"]["default"],
        prompts={pid: _prompt(p) for pid, p in data["prompts"].items()},
        devices=tuple(_cell(d) for d in data["devices"]),
        falsifiers=tuple(_falsifier(f) for f in data["falsifiers"]),
        levels={name: _level(name, data["levels"][name]) for name in LEVEL_LADDER if name in data["levels"]},
        waivers=tuple(Waiver(**w) for w in data.get("waivers") or ()),
    )


def _model(mid: str, spec: dict) -> ModelSpec:
    if "synthetic" in spec:
        return ModelSpec(id=mid, preset=spec["synthetic"]["preset"], seed=spec["synthetic"]["seed"])
    return ModelSpec(id=mid, path=spec["gguf"]["path"], sha256=spec["gguf"]["sha256"])


def _prompt(p) -> tuple[int, ...] | TextPrompt:
    return TextPrompt(p["text"]) if isinstance(p, dict) else tuple(p)


def _cell(d: dict) -> DeviceCell:
    return DeviceCell(
        id=d["id"],
        backend=d["backend"],
        hardware=d["hardware"],
        selector=dict(d.get("selector") or {}),
        description=d.get("description", ""),
        engine=dict(d.get("engine") or {}),
    )


def _falsifier(f: dict) -> Falsifier:
    return Falsifier(
        id=f["id"],
        claim=f["claim"],
        kind=f["kind"],
        params=dict(f["params"]),
        thresholds=tuple(Threshold(t["metric"], t["comparator"], float(t["value"])) for t in f["thresholds"]),
        devices=tuple(f["devices"]),
        tags=tuple(f.get("tags") or ()),
        if_fails=f.get("if_fails", ""),
    )


def _level(name: str, body: dict) -> Level:
    predicate = {k: body[k] for k in _PREDICATE_KEYS if k in body}
    return Level(
        name=name,
        predicate=predicate,
        freshness_days=body.get("freshness_days"),
        description=body.get("description", ""),
    )
