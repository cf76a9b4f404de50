"""A pv contract (harness.importers.pv_read) -> a harness contract document and its YAML text.

Kept: name, version, the amendment history (entries that are not valid semver/ISO dates, or go
backwards, become todos), equations, obligations that a mapped falsifier tests (the others
become todos), and the upstream status, description and references as documentation. Every
mapped test becomes the template's falsifier (harness.importers.pv_map); every test, Kani
harness and QA gate that could not be mapped is a `todo` entry, which `harness validate`
reports as a warning. The result is DRAFT: no evidence exists for it yet. Models, prompts and
devices come from the template contract.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from harness.contract.model import Contract
from harness.importers.pv_map import map_test
from harness.importers.pv_read import PvContract, PvFormatError, is_iso_date, normal_semver


def build_document(pv: PvContract, template: Contract, out: Path, today: str) -> tuple[dict, dict[int, list[str]]]:
    """(contract document, {falsifier index: comment lines})."""
    todos: list[dict] = []
    obligations = {o.id: o for o in pv.obligations}
    falsifiers, notes, tested = [], {}, {}
    for test in pv.tests:
        f, why = map_test(test, template.data, obligations, template.path.parent, out.parent)
        if f is not None and any(g["id"] == f["id"] for g in falsifiers):
            f, why = None, [f"a test mapped to {f['id']} already"]
        if f is None:
            todos.append(
                _todo(
                    test.id,
                    f"falsification test not mapped ({why[0]}): {test.rule}"
                    + (f"; upstream test: {test.test}" if test.test else ""),
                    "falsification_tests",
                )
            )
            continue
        notes[len(falsifiers)] = why
        falsifiers.append(f)
        if test.obligation in obligations:
            tested.setdefault(test.obligation, []).append(f["id"])
    if not falsifiers:
        raise PvFormatError(
            f"{pv.path}: no falsification test maps to a falsifier this harness can run; nothing to import"
        )
    doc = {
        "schema_version": 1,
        "name": _name(pv.name),
        "version": pv.version,
        "status": "DRAFT",
        "metadata": _metadata(pv, template, today, todos),
        "equations": _equations(pv),
        "proof_obligations": _obligations(pv, tested, todos),
        "models": template.data["models"],
        "prompts": template.data["prompts"],
        "devices": template.data["devices"],
        "falsifiers": falsifiers,
        "levels": {},
    }
    todos += [
        _todo(
            str(k.get("id") or k.get("harness") or f"kani-{i + 1}"),
            f"Kani harness {k.get('harness', '?')} (bound {k.get('bound', '?')}) for "
            f"{k.get('obligation', '?')}: model checking of Rust code, not run here",
            "kani_harnesses",
        )
        for i, k in enumerate(pv.kani)
    ]
    if pv.qa_gate:
        g = pv.qa_gate
        todos.append(
            _todo(
                str(g.get("id") or "qa_gate"),
                f"QA gate {g.get('name', '')!r}: {g.get('pass_criteria', '')} (checks "
                f"{g.get('checks', [])}); define a level for it when leaving DRAFT",
                "qa_gate",
            )
        )
    for key in ("equations", "proof_obligations"):
        if not doc[key]:
            del doc[key]
    if todos:
        doc["todo"] = todos
    return doc, notes


def _todo(tid: str, what: str, source: str) -> dict:
    return {"id": tid, "what": what, "source": source}


def _name(text: str) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-._")
    return name or "imported-pv-contract"


def _metadata(pv: PvContract, template: Contract, today: str, todos: list) -> dict:
    digest = hashlib.sha256(pv.raw).hexdigest()
    first = re.split(r"(?<=[.!?])\s", pv.description or pv.name, maxsplit=1)[0]
    return {
        "title": first[:120] or pv.name,
        "owner": pv.author or "unknown (pv contract has no author)",
        "description": (pv.description or "(the pv contract has no description)") + "\n\n"
        f"Imported by `harness import pv` from {pv.path.name} (pv status: {pv.status}); its "
        f"falsifiers are those of the harness template {template.name} {template.version}.",
        "references": [*pv.references, f"pv contract {pv.path.name}, sha256 {digest}"],
        "amendment_history": _history(pv, today, todos),
    }


def _history(pv: PvContract, today: str, todos: list) -> list[dict]:
    kept: list[dict] = []
    for i, e in enumerate(pv.history):
        try:
            version = normal_semver(str(e.get("version", "")), pv.path, "amendment version")
        except PvFormatError:
            version = None
        date = str(e.get("date") or "")
        last = kept[-1] if kept else None
        bad = (
            "its version is not semver"
            if version is None
            else "its date is not YYYY-MM-DD"
            if not is_iso_date(date)
            else "it is later than the contract's version"
            if _key(version) > _key(pv.version)
            else "it does not follow the previous entry"
            if last and (_key(version) <= _key(last["version"]) or date < last["date"])
            else None
        )
        if bad:
            todos.append(_todo(f"amendment-{i + 1}", f"amendment {e!r} dropped: {bad}", "amendment_history"))
            continue
        kept.append(
            {
                "version": version,
                "date": date,
                "author": str(e.get("author") or pv.author or "unknown"),
                "change": str(
                    e.get("change") or e.get("description") or e.get("summary") or "(no description)"
                ).strip(),
            }
        )
    if not kept or kept[-1]["version"] != pv.version:
        floor = kept[-1]["date"] if kept else ""
        date = pv.created if is_iso_date(pv.created) and pv.created >= floor else max(today, floor)
        kept.append(
            {
                "version": pv.version,
                "date": date,
                "author": pv.author or "unknown",
                "change": f"version {pv.version} of the pv contract (no amendment entry)",
            }
        )
    return kept


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _equations(pv: PvContract) -> list[dict]:
    out, seen = [], set()
    for name, text in pv.equations:
        eid = "EQ-" + (re.sub(r"[^A-Z0-9]+", "-", name.upper()).strip("-") or "UNNAMED")
        base, n = eid, 2
        while eid in seen:
            eid, n = f"{base}-{n}", n + 1
        seen.add(eid)
        out.append({"id": eid, "text": text})
    return out


def _obligations(pv: PvContract, tested: dict[str, list[str]], todos: list) -> list[dict]:
    out = []
    for o in pv.obligations:
        statement = (
            f"{o.property or '(no property given)'} [{o.kind}]"
            + (f"; formal: {o.formal}" if o.formal else "")
            + (f"; tolerance {o.tolerance:g}" if o.tolerance is not None else "")
        )
        if o.id not in tested:
            todos.append(
                _todo(o.id, f"proof obligation with no executable falsifier: {statement}", "proof_obligations")
            )
            continue
        body = re.sub(r"[^A-Z0-9]+", "-", o.id.upper()).strip("-")
        out.append(
            {"id": body if body.startswith("PO-") else "PO-" + body, "statement": statement, "falsifiers": tested[o.id]}
        )
    return out


def to_yaml(doc: dict, notes: dict[int, list[str]], header: list[str]) -> str:
    """Block YAML with short leaf lists and thresholds in flow style, comments above falsifiers."""
    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    node = _commented(doc)
    for i, lines in notes.items():
        node["falsifiers"].yaml_set_comment_before_after_key(i, before="\n".join(lines), indent=2)
    buf = io.StringIO()
    yaml.dump(node, buf)
    return "".join(f"# {line}\n" for line in header) + buf.getvalue()


def _commented(value):
    if isinstance(value, dict):
        m = CommentedMap((k, _commented(v)) for k, v in value.items())
        if _short(list(value.values())):
            m.fa.set_flow_style()
        return m
    if isinstance(value, list):
        s = CommentedSeq(_commented(v) for v in value)
        if _short(value):
            s.fa.set_flow_style()
        return s
    return value


def _short(values: list) -> bool:
    """Scalars that fit on one line: written in flow style, as the shipped contracts are."""
    return (
        bool(values)
        and all(not isinstance(v, (dict, list)) for v in values)
        and sum(len(str(v)) + 2 for v in values) <= 60
    )
