"""The console view of a report: falsifier × cell table, parity diagnostics, levels, decision.
Written to a rich Console (stderr in the CLI) so stdout stays free for --format json."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

STYLE = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold magenta", "NOT_RUN": "yellow", "WAIVED": "cyan"}
REASON_WIDTH = 60  # characters of a reason shown in the table (the report keeps it whole)


def _first_threshold(job: dict) -> tuple[str, str, str]:
    """(metric, measured, threshold) of the first failing threshold, else the first one."""
    ts = job.get("thresholds") or []
    if not ts:
        return "", "", ""
    t = next((t for t in ts if not t["ok"]), ts[0])
    measured = "n/a" if t["measured"] is None else f"{t['measured']:.6g}"
    return t["metric"], measured, f"{t['comparator']} {t['value']:g}"


def short_reason(job: dict, cells: dict) -> str:
    """The reason cut for a table cell; an absent cell's long adapter list is printed once below."""
    cell = cells.get(job["cell"], {})
    if job["verdict"] == "NOT_RUN" and job.get("counted", True) and not cell.get("present", True):
        reason = "cell absent here"
    else:
        reason = job.get("reason") or ""
    if not job.get("counted", True):
        reason = f"not counted: {reason}"
    return reason if len(reason) <= REASON_WIDTH else reason[: REASON_WIDTH - 1] + "…"


def jobs_table(predicate: dict) -> Table:
    table = Table(title=f"{predicate['contract']['name']} {predicate['contract']['version']}")
    for col in ("falsifier", "cell", "measured", "threshold", "verdict", "reason"):
        table.add_column(col, overflow="fold")
    last = None
    for job in predicate["jobs"]:
        metric, measured, threshold = _first_threshold(job)
        v = job["verdict"]
        table.add_row(
            job["falsifier"] if job["falsifier"] != last else "",
            job["cell"],
            f"{metric} {measured}".strip(),
            threshold,
            f"[{STYLE.get(v, '')}]{v}[/]",
            short_reason(job, predicate.get("cells", {})),
        )
        last = job["falsifier"]
    return table


def absent_cells(predicate: dict) -> list[str]:
    return [f"{cid}: {c['reason']}" for cid, c in predicate.get("cells", {}).items() if not c.get("present", True)]


def diagnostic_lines(job: dict) -> list[str]:
    """Where to look when a parity job failed: first divergence, router mismatches."""
    d = job.get("diagnostics") or {}
    lines = []
    first = d.get("first_divergence")
    if first:
        lines.append(
            f"first divergence: layer {first['layer']} stage {first['stage']} "
            f"cosine {first['cosine']} ({first['rule']})"
        )
    lines += bisection_lines(d.get("bisection"))
    if d.get("router_mismatch_count"):
        lines.append(f"router expert-id mismatches: {d['router_mismatch_count']}")
        for m in d.get("router_mismatches", [])[:5]:
            lines.append(
                f"  {m['prompt']} layer {m['layer']} pos {m['position']}: ids {m['ids']} "
                f"vs reference {m['ids_reference']}; top-k margin {m['margin']} "
                f"(reference {m['margin_reference']})"
            )
    return lines


def bisection_lines(b: dict | None) -> list[str]:
    """The three-way bisection (harness.blame): the suspect, where it starts, each pair."""
    if not b:
        return []
    if "error" in b:
        return [f"bisection could not run: {b['error']}"]
    head = (
        f"bisection: suspect {b['suspect']} ({b['side']}) from {_where(b)}" if b["suspect"] else "bisection: no suspect"
    )
    lines = [f"{head} on prompt {b['prompt']}; {b['rule']}"]
    for pair, p in b["pairs"].items():
        lines.append(
            f"  {pair}: "
            + (
                "agree"
                if p is None
                else f"diverge at {_where(p)}: {', '.join(p['broken'])} broken "
                f"(cosine {p['cosine']}, rel-L2 {p['rel_l2']})"
            )
        )
    return lines


def _where(point: dict) -> str:
    return "logits" if point["layer"] is None else f"layer {point['layer']} {point['stage']}"


def print_report(predicate: dict, console: Console) -> None:
    """Table, diagnostics of failed jobs, then levels and the decision."""
    console.print(jobs_table(predicate))
    for line in absent_cells(predicate):
        console.print(f"absent {line}", markup=False)
    for job in predicate["jobs"]:
        if job["verdict"] in ("FAIL", "ERROR"):
            lines = diagnostic_lines(job)
            if lines:
                console.print(f"[bold]{job['falsifier']} on {job['cell']}[/]")
                for line in lines:
                    console.print("  " + line, markup=False)
    lv, dec = predicate["levels"], predicate["decision"]
    console.print(f"earned level: [bold]{lv['earned']}[/]   declared: [bold]{lv['declared']}[/]")
    console.print(f"decision: exit {dec['exit_code']}: {dec['summary']}", markup=False)
