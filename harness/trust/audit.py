"""Audit a signed report: signature first, then shape, subjects, digests, levels and decision.

Each check yields Check(name, ok, detail). Checks that depend on an earlier one (nothing can be
read from a payload whose signature failed) are not run after it fails. Levels are recomputed
with harness.levels, never here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from harness import levels
from harness.contract import ContractError, contract_from_dict, load_contract
from harness.judge import NOT_RUN
from harness.trust import statement as st
from harness.trust.evidence import (
    evidence_created,
    evidence_time_problems,
    invalid_waivers,
    mislabelled_cells,
    unsupported_passes,
)
from harness.trust.errors import EnvelopeFormatError, PayloadTypeError, StatementError, SubjectMismatchError, TrustError
from harness.trust.report_file import Report, open_report


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class AuditResult:
    """All checks run, in order; `report` is set once the signature and shape held."""

    checks: list[Check] = field(default_factory=list)
    report: Report | None = None
    earned: str | None = None  # recomputed from the recorded verdicts

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok


@dataclass(frozen=True)
class AuditOptions:
    contract: Path | None = None  # the contract file the report must be about
    rev: str | None = None  # the git commit the report must be about
    allow_dirty: bool = False
    check_declared: bool = True  # promote turns this off: it acts on the gap instead
    require_cells: tuple[str, ...] = ()  # cells that must have run (CI: no silent absence)


def verdict_map(predicate: dict) -> dict[tuple[str, str], str]:
    return {(j["falsifier"], j["cell"]): j["verdict"] for j in predicate["jobs"]}


def audit(report_path, verifiers, options: AuditOptions = AuditOptions()) -> AuditResult:
    """Run every check on `report_path` trusting `verifiers`; never raises for a bad report."""
    result = AuditResult()
    try:
        report = open_report(report_path, verifiers)
    except TrustError as exc:
        result.add(_stage_of(exc), False, str(exc))
        return result
    result.report = report
    result.add(
        "signature",
        True,
        f"verified by key {report.keyid[:16]}; payload is an in-toto statement with subjects matching the predicate",
    )
    contract = _check_document(result, report.predicate, options)
    if options.contract is not None:
        _check_contract_file(result, report.statement, options.contract)
    if options.rev is not None:
        _check_revision(result, report.predicate, options)
    for cell in options.require_cells:
        _check_cell_ran(result, report.predicate, cell)
    if contract is not None:
        try:
            _check_evidence(result, report.predicate, contract)
            _check_levels(result, report.predicate, contract, options)
        except (ValueError, KeyError, TypeError) as exc:
            # e.g. a recorded level name that is not on the ladder, a job record missing a key
            result.add("levels", False, f"cannot recompute levels from the report: {exc}")
    return result


_STAGES = (
    (EnvelopeFormatError, "envelope"),
    (PayloadTypeError, "payload-type"),
    (SubjectMismatchError, "subjects"),
    (StatementError, "statement"),
)


def _stage_of(exc: TrustError) -> str:
    """The check a refusal from open_report belongs to (unsigned and forged are 'signature')."""
    return next((name for kind, name in _STAGES if isinstance(exc, kind)), "signature")


def _check_document(result: AuditResult, predicate: dict, options: AuditOptions):
    """Rebuild the embedded contract (schema + lint) and compare it with the predicate's header."""
    recorded = predicate["contract"]
    raw = options.contract.read_bytes() if options.contract and options.contract.exists() else b""
    try:
        contract = contract_from_dict(recorded["document"], recorded["path"], raw)
    except ContractError as exc:
        result.add("contract-document", False, f"embedded contract does not validate: {exc}")
        return None
    header = {k: recorded[k] for k in ("name", "version", "status")}
    header["declared"] = predicate["levels"]["declared"]
    actual = {
        "name": contract.name,
        "version": contract.version,
        "status": contract.status,
        "declared": contract.status,
    }
    if header != actual:
        result.add("contract-document", False, f"predicate.contract says {header}, the embedded document says {actual}")
        return None
    result.add("contract-document", True, f"{contract.name} {contract.version} ({contract.status})")
    return contract


def _check_contract_file(result: AuditResult, statement: dict, path: Path) -> None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        result.add("contract-file", False, f"{path}: cannot read ({exc.strerror})")
        return
    digest = hashlib.sha256(raw).hexdigest()
    recorded = st.subject_digest(statement, "contract", "sha256")
    if digest != recorded:
        result.add(
            "contract-file",
            False,
            f"{path}: sha256 {digest} differs from the report's contract subject "
            f"{recorded}: the file was edited or is another contract",
        )
        return
    result.add("contract-file", True, f"{path}: sha256 {digest} matches the contract subject")


def _check_revision(result: AuditResult, predicate: dict, options: AuditOptions) -> None:
    recorded = predicate["revision"]["commit"]
    if options.rev.lower() != recorded.lower():
        result.add("revision", False, f"report is about revision {recorded}, not {options.rev}")
        return
    if predicate["revision"]["dirty"] and not options.allow_dirty:
        result.add(
            "revision",
            False,
            f"revision {recorded} had uncommitted changes (dirty: true); such evidence "
            f"is not about the commit (--allow-dirty to accept)",
        )
        return
    result.add(
        "revision",
        True,
        f"report is about revision {recorded}" + (" (dirty, allowed)" if predicate["revision"]["dirty"] else ""),
    )


def _check_cell_ran(result: AuditResult, predicate: dict, cell: str) -> None:
    """The cell was present and none of its in-scope jobs is NOT_RUN."""
    info = predicate["cells"].get(cell)
    if info is None or not info.get("present"):
        why = "not in the report" if info is None else (info.get("reason") or "absent")
        result.add(f"cell:{cell}", False, f"required cell {cell} did not run: {why}")
        return
    idle = [
        j["falsifier"]
        for j in predicate["jobs"]
        if j["cell"] == cell and j["verdict"] == NOT_RUN and j.get("counted", True)
    ]
    result.add(
        f"cell:{cell}",
        not idle,
        f"cell {cell} ran" + (f", but {len(idle)} of its jobs did not: {', '.join(idle)}" if idle else ""),
    )


def _check_evidence(result: AuditResult, predicate: dict, contract) -> None:
    bad = unsupported_passes(contract, predicate["jobs"])
    result.add(
        "verdicts",
        not bad,
        "every PASS follows from its measurements and the contract's thresholds"
        if not bad
        else f"{len(bad)} unsupported PASS: {bad[0]}",
    )
    bad = invalid_waivers(contract, predicate["jobs"], predicate["created"])
    result.add(
        "waivers",
        not bad,
        "every WAIVED job rests on an unexpired contract waiver"
        if not bad
        else f"{len(bad)} invalid waiver(s): {bad[0]}",
    )
    bad = mislabelled_cells(contract, predicate)
    result.add(
        "cell-identity",
        not bad,
        "every measured cell ran on an adapter its selector and hardware flag admit"
        if not bad
        else f"{len(bad)} mislabelled cell(s): {bad[0]}",
    )
    bad = evidence_time_problems(predicate)
    result.add("evidence-time", not bad, f"evidence made {evidence_created(predicate)}" if not bad else bad[0])


def _check_levels(result: AuditResult, predicate: dict, contract, options: AuditOptions) -> None:
    earned = levels.earned_level(contract.levels, verdict_map(predicate))
    result.earned = earned
    recorded = predicate["levels"]["earned"]
    result.add(
        "earned-level",
        earned == recorded,
        f"recorded verdicts earn {earned}" + ("" if earned == recorded else f", but the report claims {recorded}"),
    )
    code, summary, _ = levels.decide(predicate["jobs"], contract.levels, predicate["levels"]["declared"])
    recorded_code = predicate["decision"]["exit_code"]
    mismatch = "" if code == recorded_code else f", but the report records exit {recorded_code}"
    result.add("decision", code == recorded_code, f"recorded verdicts decide exit {code} ({summary}){mismatch}")
    if options.check_declared:
        _check_declared(result, predicate, earned, options)


def _check_declared(result: AuditResult, predicate: dict, earned: str, options: AuditOptions) -> None:
    claims = [("the report's declared status", predicate["levels"]["declared"])]
    if options.contract is not None:
        try:
            claims.append((f"{options.contract} status", load_contract(options.contract).status))
        except (ContractError, OSError) as exc:
            result.add("declared-status", False, f"{options.contract}: cannot load ({exc})")
            return
    for who, level in claims:
        if levels.rank(level) > levels.rank(earned):
            result.add("declared-status", False, f"{who} {level} is above what the evidence earns ({earned})")
            return
    result.add("declared-status", True, f"declared status is within the earned level {earned}")
