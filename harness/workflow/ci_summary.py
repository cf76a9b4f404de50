"""CI output from an audited report: a Markdown step summary and GitHub annotations.

GitHub shows at most 10 error annotations per step, so the worst 10 are emitted and the rest are
counted in a notice; the step summary carries the whole matrix. Nothing here changes an exit
code: NOT_RUN is shown as not run, never as success. A job's annotation carries `file=` and
`line=` (the failed threshold, else the falsifier, in the contract) when the contract's bytes
are at hand, so GitHub shows it on the contract line itself.
"""

from __future__ import annotations

from harness.judge import ERROR, FAIL, NOT_RUN, PASS, WAIVED
from harness.report.locations import job_line, line_map
from harness.trust.audit import AuditResult

MAX_ERRORS = 10
MAX_REASON = 300  # characters of a job's reason shown per line; the report keeps it whole
_ICON = {PASS: "✅ PASS", FAIL: "❌ FAIL", ERROR: "💥 ERROR", NOT_RUN: "⏸ NOT_RUN", WAIVED: "⚪ WAIVED"}


def _short(text, limit: int = MAX_REASON) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell_text(text) -> str:
    return _short(text).replace("|", "\\|")


def _matrix(predicate: dict) -> list[str]:
    # Canonical JSON sorts object keys, so the contract's device list gives the column order.
    devices = predicate["contract"]["document"].get("devices") or []
    cells = [d["id"] for d in devices if isinstance(d, dict) and "id" in d]
    for job in predicate["jobs"]:
        if job["cell"] not in cells:
            cells.append(job["cell"])
    verdicts = {(j["falsifier"], j["cell"]): j["verdict"] for j in predicate["jobs"]}
    falsifiers = list(dict.fromkeys(j["falsifier"] for j in predicate["jobs"]))
    lines = ["| falsifier | " + " | ".join(cells) + " |", "|---" * (len(cells) + 1) + "|"]
    for f in falsifiers:
        row = [_ICON.get(verdicts[(f, c)], verdicts[(f, c)]) if (f, c) in verdicts else "–" for c in cells]
        lines.append(f"| `{f}` | " + " | ".join(row) + " |")
    return lines


def _header(result: AuditResult) -> list[str]:
    status = "passed" if result.ok else "FAILED"
    lines = [f"## harness audit: {status}", ""]
    if result.report is not None:
        p = result.report.predicate
        c, rev = p["contract"], p["revision"]
        lines += [
            f"Contract **{c['name']}** {c['version']} (declared {p['levels']['declared']}), "
            f"revision `{rev['commit'][:12]}`{' (dirty)' if rev['dirty'] else ''}, "
            f"report sha256 `{result.report.sha256[:16]}`.",
            "",
            f"Earned level: **{result.earned or p['levels']['earned']}**. Decision: exit "
            f"{p['decision']['exit_code']}: {p['decision'].get('summary', '')}",
            "",
        ]
    lines += ["| check | result | detail |", "|---|---|---|"]
    lines += [f"| {c.name} | {'ok' if c.ok else '**failed**'} | {_cell_text(c.detail)} |" for c in result.checks]
    return lines


def _problems(predicate: dict) -> list[dict]:
    return [j for j in predicate["jobs"] if j["verdict"] in (FAIL, ERROR)]


def _inputs(predicate: dict) -> list[str]:
    """A merged report's partial reports: digest, cells, signing key."""
    inputs = predicate.get("inputs") or []
    if not inputs:
        return []
    lines = ["", "### Merged from", "", "| report | sha256 | cells | key |", "|---|---|---|---|"]
    lines += [
        f"| {_cell_text(i.get('name', ''))} | `{str(i.get('sha256', ''))[:16]}` | "
        f"{', '.join(i.get('cells') or []) or '–'} | `{str(i.get('keyid', ''))[:16]}` |"
        for i in inputs
    ]
    return lines


def summary_markdown(result: AuditResult) -> str:
    """The step summary: audit checks, the falsifier x cell matrix, failures with reasons."""
    lines = _header(result)
    if result.report is not None:
        p = result.report.predicate
        lines += ["", "### Verdicts", ""] + _matrix(p)
        problems = _problems(p)
        if problems:
            lines += ["", "### Failures", ""]
            lines += [
                f"- `{j['falsifier']}` on `{j['cell']}`: {j['verdict']}: {_cell_text(j.get('reason') or '')}"
                for j in problems
            ]
        lines += _inputs(p)
        absent = {cid: c for cid, c in (p.get("cells") or {}).items() if not c.get("present")}
        if absent:
            lines += ["", "### Cells not run here (not evidence)", ""]
            lines += [f"- `{cid}`: {_cell_text(c.get('reason') or 'absent')}" for cid, c in absent.items()]
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _where(file: str | None, line: int | None) -> str:
    if not file:
        return ""
    return f"file={_escape_property(file)}," + (f"line={int(line)}," if line else "")


def annotations(
    result: AuditResult, limit: int = MAX_ERRORS, *, contract_raw: bytes | None = None, contract_file: str | None = None
) -> list[str]:
    """Workflow commands: one ::error per failed check or FAIL/ERROR job, at most `limit`.

    `contract_raw`: the contract's bytes (the ones the report is about) for line numbers;
    `contract_file`: its repository-relative path (default: the path the report records).
    """
    errors = [(None, None, f"audit {c.name}", c.detail) for c in result.checks if not c.ok]
    if result.report is not None:
        p = result.report.predicate
        file = contract_file or p["contract"]["path"]
        lines = line_map(contract_raw, file)
        errors += [
            (
                file,
                job_line(p["contract"]["document"], lines, j),
                f"{j['falsifier']} on {j['cell']}",
                f"{j['verdict']}: {_short(j.get('reason') or '')}",
            )
            for j in _problems(p)
        ]
    out = [f"::error {_where(f, n)}title={_escape_property(t)}::{_escape_data(m)}" for f, n, t, m in errors[:limit]]
    if len(errors) > limit:
        out.append(f"::notice::{len(errors) - limit} more failure(s) not annotated; see the step summary")
    return out
