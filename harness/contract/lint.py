"""Semantic lint of a schema-valid contract document: what JSON Schema cannot see.

Version drift, dangling and duplicate ids, levels and waivers that name undefined or unlisted
falsifier × cell pairs, thresholds outside their metric's possible range, quorums that cannot
be met, selectors whose name_pattern is not a regex. Expired waivers and per-layer falsifiers on
llama-cpp cells (NOT_RUN there) are warnings here (the engine fails / skips them at run time),
and so is every `todo` entry (work the contract still owes).
Every issue carries file:line and the JSON path.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

from harness.contract.errors import WARNING, ContractIssue
from harness.contract.metric_ranges import metric_range
from harness.contract.model import LEVEL_LADDER
from harness.contract.yaml_lines import LineMap, json_path

# References a parity / op_parity falsifier may name besides a device cell: implementations
# the engine provides (an independent float64 forward; the same backend's full prefill).
ENGINE_REFERENCES = ("f64", "self-prefill", "cpu")
# Backends that return logits without per-layer states (llama.cpp exposes none).
LOGITS_ONLY_BACKENDS = ("llama-cpp",)


class _Linter:
    def __init__(self, data: dict, file: str, lines: LineMap, today: dt.date):
        self.data, self.file, self.lines, self.today = data, file, lines, today
        self.issues: list[ContractIssue] = []
        self.cells = {d["id"]: d for d in data["devices"]}
        self.falsifiers = {f["id"]: f for f in data["falsifiers"]}

    def add(self, parts: tuple, message: str, severity: str = "error") -> None:
        self.issues.append(ContractIssue(self.file, self.lines.line(parts), json_path(parts), message, severity))

    def run(self) -> list[ContractIssue]:
        for check in (
            self.versions,
            self.duplicates,
            self.status,
            self.models,
            self.selectors,
            self.falsifier_refs,
            self.thresholds,
            self.obligations,
            self.levels,
            self.waivers,
            self.todos,
        ):
            check()
        return sorted(self.issues, key=ContractIssue.sort_key)

    # -- version drift -------------------------------------------------------------------
    def versions(self) -> None:
        history = self.data["metadata"]["amendment_history"]
        last = history[-1]["version"]
        if last != self.data["version"]:
            self.add(
                ("version",),
                f"version {self.data['version']!r} drifts from the last "
                f"amendment's version {last!r} (metadata.amendment_history[-1]); "
                "they must be equal",
            )
        for i in range(1, len(history)):
            before, entry = history[i - 1], history[i]
            if _semver(entry["version"]) <= _semver(before["version"]):
                self.add(
                    ("metadata", "amendment_history", i, "version"),
                    f"amendment version {entry['version']!r} does not increase on the previous {before['version']!r}",
                )
            if entry["date"] < before["date"]:
                self.add(
                    ("metadata", "amendment_history", i, "date"),
                    f"amendment date {entry['date']} is before the previous entry's "
                    f"{before['date']}; history must be in date order",
                )

    # -- ids -------------------------------------------------------------------------------
    def duplicates(self) -> None:
        for section, key in (("devices", "id"), ("falsifiers", "id"), ("equations", "id"), ("proof_obligations", "id")):
            seen: dict[str, int] = {}
            for i, item in enumerate(self.data.get(section) or ()):
                if item[key] in seen:
                    self.add(
                        (section, i, key),
                        f"duplicate id {item[key]!r} (first at "
                        f"{json_path((section, seen[item[key]], key))}); ids must be unique",
                    )
                seen.setdefault(item[key], i)

    def status(self) -> None:
        status = self.data["status"]
        if status not in LEVEL_LADDER:  # the schema's enum catches this first; kept for dicts
            self.add(("status",), f"status {status!r} is not in the ladder {list(LEVEL_LADDER)}")
        elif status != "DRAFT" and status not in self.data["levels"]:
            self.add(("status",), f"status {status} has no predicate in levels; define levels.{status}")

    def models(self) -> None:
        default, specs = self.data["models"]["default"], self.data["models"]["specs"]
        if default not in specs:
            self.add(("models", "default"), self._unknown("model", default, specs))

    def selectors(self) -> None:
        for i, cell in enumerate(self.data["devices"]):
            pattern = (cell.get("selector") or {}).get("name_pattern")
            if pattern is None:
                continue
            try:
                re.compile(pattern)
            except re.error as exc:
                self.add(
                    ("devices", i, "selector", "name_pattern"),
                    f"name_pattern {pattern!r} is not a valid regular expression: {exc}",
                )

    def falsifier_refs(self) -> None:
        for i, f in enumerate(self.data["falsifiers"]):
            for j, cell in enumerate(f["devices"]):
                if cell not in self.cells:
                    self.add(("falsifiers", i, "devices", j), self._unknown("device cell", cell, self.cells))
                elif _compares_with_itself(f, self.cells[cell]):
                    # op_parity: the engine ERRORs such a job at run time, so a warning suffices;
                    # a parity would PASS trivially, so it is an error here
                    self.add(
                        ("falsifiers", i, "devices", j),
                        f"on {cell} this {f['kind']} "
                        f"compares the implementation with itself (reference "
                        f"{f['params'].get('reference', 'cpu')!r}); it could never fail",
                        WARNING if f["kind"] == "op_parity" else "error",
                    )
                elif _needs_layers(f) and self.cells[cell]["backend"] in LOGITS_ONLY_BACKENDS:
                    self.add(
                        ("falsifiers", i, "devices", j),
                        f"{cell} is a "
                        f"{self.cells[cell]['backend']} cell, which gives no per-layer "
                        f"states: this {f['kind']} will be NOT_RUN there",
                        WARNING,
                    )
            self._params_refs(i, f["params"])
            if f["kind"] == "oracle":
                self._fixture(i, f["params"]["fixture"])

    def _fixture(self, i: int, fixture: str) -> None:
        where = Path(self.file).parent / fixture
        if not where.is_file():
            self.add(
                ("falsifiers", i, "params", "fixture"),
                f"fixture {fixture!r} not found at {where}; the oracle will FAIL until it exists",
                WARNING,
            )

    def _params_refs(self, i: int, params: dict) -> None:
        base = ("falsifiers", i, "params")
        if "model" in params and params["model"] not in self.data["models"]["specs"]:
            self.add(base + ("model",), self._unknown("model", params["model"], self.data["models"]["specs"]))
        for j, name in enumerate(params.get("prompts") or ()):
            if name not in self.data["prompts"]:
                self.add(base + ("prompts", j), self._unknown("prompt", name, self.data["prompts"]))
        ref = params.get("reference")
        if ref is not None and ref not in self.cells and ref not in ENGINE_REFERENCES:
            self.add(
                base + ("reference",),
                f"unknown reference {ref!r}: neither a device cell "
                f"({', '.join(self.cells)}) nor an engine reference "
                f"({', '.join(ENGINE_REFERENCES)})",
            )

    def thresholds(self) -> None:
        for i, f in enumerate(self.data["falsifiers"]):
            for j, t in enumerate(f["thresholds"]):
                parts = ("falsifiers", i, "thresholds", j)
                family = metric_range(t["metric"])
                if not math.isfinite(float(t["value"])):
                    self.add(
                        parts + ("value",),
                        f"threshold {t['value']!r} for {t['metric']} is not a finite number; a threshold must be one",
                    )
                elif family is None:
                    self.add(
                        parts + ("metric",),
                        f"metric {t['metric']!r} belongs to no known metric family; its range is not checked",
                        WARNING,
                    )
                elif not family.contains(float(t["value"])):
                    self.add(
                        parts + ("value",),
                        f"threshold {t['value']!r} for {t['metric']} is "
                        f"outside the {family.family} range {family.describe()}",
                    )

    def obligations(self) -> None:
        for i, po in enumerate(self.data.get("proof_obligations") or ()):
            for j, fid in enumerate(po["falsifiers"]):
                if fid not in self.falsifiers:
                    self.add(
                        ("proof_obligations", i, "falsifiers", j), self._unknown("falsifier", fid, self.falsifiers)
                    )

    # -- levels and waivers ---------------------------------------------------------------
    def levels(self) -> None:
        for name, body in self.data["levels"].items():
            for key in ("all_of", "any_of", "quorum", "pass"):
                if key in body:
                    self._predicate(("levels", name, key), key, body[key])

    def _predicate(self, parts: tuple, key: str, node) -> None:
        if key in ("all_of", "any_of"):
            for i, child in enumerate(node):
                ((ck, cv),) = child.items()
                self._predicate(parts + (i, ck), ck, cv)
        elif key == "quorum":
            if node["min"] > len(node["of"]):
                self.add(
                    parts + ("min",),
                    f"quorum min {node['min']} exceeds the {len(node['of'])} options in 'of'; it can never hold",
                )
            for i, child in enumerate(node["of"]):
                ((ck, cv),) = child.items()
                self._predicate(parts + ("of", i, ck), ck, cv)
        else:
            self._pass_leaf(parts, node)

    def _pass_leaf(self, parts: tuple, leaf: dict) -> None:
        for j, cell in enumerate(leaf["cells"]):
            if cell not in self.cells:
                self.add(parts + ("cells", j), self._unknown("device cell", cell, self.cells))
        for j, fid in enumerate(leaf["falsifiers"]):
            if fid not in self.falsifiers:
                self.add(parts + ("falsifiers", j), self._unknown("falsifier", fid, self.falsifiers))
                continue
            listed = self.falsifiers[fid]["devices"]
            missing = [c for c in leaf["cells"] if c in self.cells and c not in listed]
            if missing:
                self.add(
                    parts + ("falsifiers", j),
                    f"{fid} does not run on {missing} (its devices are {listed}); the level could never hold",
                )

    def waivers(self) -> None:
        for i, w in enumerate(self.data.get("waivers") or ()):
            parts = ("waivers", i)
            f = self.falsifiers.get(w["falsifier"])
            if f is None:
                self.add(parts + ("falsifier",), self._unknown("falsifier", w["falsifier"], self.falsifiers))
            if w["cell"] not in self.cells:
                self.add(parts + ("cell",), self._unknown("device cell", w["cell"], self.cells))
            elif f is not None and w["cell"] not in f["devices"]:
                self.add(parts + ("cell",), f"{w['falsifier']} does not run on {w['cell']!r}; nothing to waive")
            if dt.date.fromisoformat(w["expires"]) < self.today:
                self.add(
                    parts + ("expires",), f"waiver expired on {w['expires']}; harness verify will FAIL it", WARNING
                )

    def todos(self) -> None:
        for i, item in enumerate(self.data.get("todo") or ()):
            self.add(("todo", i), f"todo {item['id']}: {item['what']}", WARNING)

    @staticmethod
    def _unknown(what: str, name: str, known) -> str:
        return f"unknown {what} {name!r}; defined: {', '.join(known) or 'none'}"


def _compares_with_itself(falsifier: dict, cell: dict) -> bool:
    """A parity whose reference is the cell itself (or its backend), or an op_parity whose
    reference is the cell's own implementation: the comparison cannot fail."""
    ref = falsifier["params"].get("reference")
    if falsifier["kind"] == "parity":
        return ref == cell["id"] or ref == cell["backend"]
    if falsifier["kind"] == "op_parity":
        return (ref or "cpu") == cell["backend"]
    return False


def _needs_layers(falsifier: dict) -> bool:
    """Kinds that read hidden states or router outputs, not only logits."""
    return falsifier["kind"] == "invariant" or (
        falsifier["kind"] == "parity" and falsifier["params"].get("compare") == "layers"
    )


def _semver(text: str) -> tuple:
    """Sort key: a pre-release (1.0.0-rc1) comes before its release (1.0.0)."""
    core, _, pre = text.partition("-")
    return tuple(int(p) for p in core.split(".")) + ((0, pre) if pre else (1, ""))


def lint(data: dict, file: str, lines: LineMap | None = None, today: dt.date | None = None) -> list[ContractIssue]:
    """Semantic issues (errors and warnings) in a schema-valid contract document."""
    return _Linter(data, file, lines or LineMap(), today or dt.date.today()).run()
