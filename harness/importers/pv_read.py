"""Read a paiml/aprender `pv` (provable-contracts) YAML file into plain, normalised records.

The pv format: `metadata` (version, created, author, description, references), `equations` (a
map name -> {formula, domain, ...}, or a list of {id, formula}), `proof_obligations` ({id, type,
property, formal, tolerance}), `falsification_tests` ({id, rule, prediction, test, if_fails,
obligation}), `kani_harnesses`, `qa_gate`. Name, status and the amendment history are read
from the top level or from metadata, under the spellings listed in the readers below.
Nothing here runs or evaluates a `test:` string: they are kept as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.contract.errors import ContractError
from harness.contract.yaml_lines import load_yaml

_SEMVER = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PvFormatError(ValueError):
    """The file is not a readable pv contract; the message names the file and the key."""


@dataclass(frozen=True)
class PvTest:
    id: str
    rule: str
    prediction: str
    test: str  # the shell command as written (never run here)
    if_fails: str
    obligation: str  # the cited obligation id, or ""


@dataclass(frozen=True)
class PvObligation:
    id: str
    kind: str
    property: str
    formal: str
    tolerance: float | None


@dataclass(frozen=True)
class PvContract:
    path: Path
    raw: bytes
    name: str
    version: str
    status: str
    created: str
    author: str
    description: str
    references: list[str]
    history: list[dict]  # {version, date, author, change}, as found
    equations: list[tuple[str, str]]  # (name, text)
    obligations: list[PvObligation]
    tests: list[PvTest]
    kani: list[dict] = field(default_factory=list)
    qa_gate: dict | None = None


def read_pv(path: Path) -> PvContract:
    """The pv contract at `path`; PvFormatError (with file:line for YAML errors) otherwise."""
    raw = path.read_bytes()
    try:
        data, _ = load_yaml(raw.decode("utf-8"), str(path))
    except UnicodeDecodeError as exc:
        raise PvFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    except ContractError as exc:
        raise PvFormatError("; ".join(str(i) for i in exc.issues)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise PvFormatError(f"{path}: not a pv contract (no `metadata` mapping at the top)")
    if not any(k in data for k in ("equations", "proof_obligations", "falsification_tests")):
        raise PvFormatError(f"{path}: not a pv contract (no equations, proof_obligations or falsification_tests)")
    meta = data["metadata"]
    version = normal_semver(
        _text(meta.get("version", data.get("version")), "metadata.version", path), path, "metadata.version"
    )
    return PvContract(
        path=path,
        raw=raw,
        name=_text(data.get("name") or meta.get("name") or path.stem, "name", path),
        version=version,
        status=str(data.get("status") or meta.get("status") or "unstated"),
        created=str(meta.get("created") or ""),
        author=str(meta.get("author") or ""),
        description=str(meta.get("description") or "").strip(),
        references=[str(r) for r in _list(meta.get("references"), "metadata.references", path)],
        history=_history(meta, data, path),
        equations=_equations(data.get("equations"), path),
        obligations=_obligations(data.get("proof_obligations"), path),
        tests=_tests(data.get("falsification_tests"), path),
        kani=[k for k in _list(data.get("kani_harnesses"), "kani_harnesses", path) if isinstance(k, dict)],
        qa_gate=data.get("qa_gate") if isinstance(data.get("qa_gate"), dict) else None,
    )


def normal_semver(text: str, path: Path, where: str) -> str:
    """'1.8.0' as is; '1.8' and '1' padded to three parts; anything else is an error."""
    text = text.strip().lstrip("v")
    if not _SEMVER.match(text):
        raise PvFormatError(f"{path}: {where} {text!r} is not a version like 1.8.0")
    parts = text.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def is_iso_date(text: str) -> bool:
    return bool(_DATE.match(text))


def _text(value, where: str, path: Path) -> str:
    if value is None or isinstance(value, (dict, list)) or str(value).strip() == "":
        raise PvFormatError(f"{path}: {where} is missing or not a scalar")
    return str(value)


def _list(value, where: str, path: Path) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PvFormatError(f"{path}: {where} must be a list, got {type(value).__name__}")
    return value


def _history(meta: dict, data: dict, path: Path) -> list[dict]:
    for key in ("amendment_history", "amendments", "changelog"):
        for where in (meta, data):
            if key in where:
                return [dict(e) for e in _list(where[key], key, path) if isinstance(e, dict)]
    return []


def _equations(value, path: Path) -> list[tuple[str, str]]:
    if value is None:
        return []
    items = (
        value.items()
        if isinstance(value, dict)
        else [(e.get("id") or e.get("name"), e) for e in _list(value, "equations", path) if isinstance(e, dict)]
    )
    out = []
    for name, body in items:
        if isinstance(body, dict):
            text = str(body.get("formula") or body.get("text") or "").strip()
            if body.get("domain"):
                text += f"  (domain: {body['domain']})"
        else:
            text = str(body)
        out.append((str(name), text or "(no formula given)"))
    return out


def _obligations(value, path: Path) -> list[PvObligation]:
    out = []
    for i, o in enumerate(_list(value, "proof_obligations", path)):
        if not isinstance(o, dict):
            raise PvFormatError(f"{path}: proof_obligations[{i}] is not a mapping")
        tol = o.get("tolerance")
        if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (int, float))):
            raise PvFormatError(f"{path}: proof_obligations[{i}].tolerance {tol!r} is not a number")
        out.append(
            PvObligation(
                id=str(o.get("id") or f"PO-{i + 1:03d}"),
                kind=str(o.get("type") or "invariant"),
                property=str(o.get("property") or o.get("description") or ""),
                formal=str(o.get("formal") or ""),
                tolerance=None if tol is None else float(tol),
            )
        )
    return out


def _tests(value, path: Path) -> list[PvTest]:
    out = []
    for i, t in enumerate(_list(value, "falsification_tests", path)):
        if not isinstance(t, dict) or not t.get("id"):
            raise PvFormatError(f"{path}: falsification_tests[{i}] is not a mapping with an id")
        cited = t.get("obligation")
        if isinstance(cited, dict):
            cited = cited.get("id") or cited.get("obligation")
        out.append(
            PvTest(
                id=str(t["id"]),
                rule=str(t.get("rule") or t.get("description") or "").strip(),
                prediction=str(t.get("prediction") or t.get("expected") or "").strip(),
                test=str(t.get("test") or t.get("test_harness") or t.get("command") or "").strip(),
                if_fails=str(t.get("if_fails") or "").strip(),
                obligation=str(cited or ""),
            )
        )
    return out
