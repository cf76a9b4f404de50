"""JUnit XML from a report predicate: one testcase per falsifier × cell.

NOT_RUN is skipped with the reason (never a pass), FAIL is a failure listing measured vs
threshold, ERROR is an error, WAIVED passes with the waiver in system-out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET


def threshold_lines(job: dict) -> str:
    """One line per threshold: "metric measured comparator value  ok|FAILED"."""
    lines = []
    for t in job.get("thresholds", []):
        measured = "not measured / non-finite" if t["measured"] is None else f"{t['measured']:.6g}"
        lines.append(
            f"{t['metric']}: measured {measured}, required {t['comparator']} {t['value']:g}"
            f"  {'ok' if t['ok'] else 'FAILED'}"
        )
    return "\n".join(lines)


def _case(suite: ET.Element, job: dict) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=job["falsifier"], name=job["cell"], time=f"{job.get('timing_s', 0.0):.3f}"
    )
    verdict, reason = job["verdict"], job.get("reason") or ""
    if verdict == "NOT_RUN":
        ET.SubElement(case, "skipped", message=reason or "not run")
    elif verdict == "FAIL":
        ET.SubElement(case, "failure", message=reason or "falsified", type="FAIL").text = threshold_lines(job) or reason
    elif verdict == "ERROR":
        ET.SubElement(case, "error", message=reason or "error", type="ERROR").text = reason
    elif verdict == "WAIVED":
        ET.SubElement(case, "system-out").text = f"WAIVED: {reason}\n{threshold_lines(job)}"


def junit_xml(predicate: dict) -> bytes:
    """The JUnit XML document (UTF-8 bytes) for a report predicate."""
    jobs = predicate["jobs"]
    count = lambda v: str(sum(j["verdict"] == v for j in jobs))  # noqa: E731
    root = ET.Element("testsuites")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=predicate["contract"]["name"],
        tests=str(len(jobs)),
        failures=count("FAIL"),
        errors=count("ERROR"),
        skipped=count("NOT_RUN"),
        time=f"{sum(j.get('timing_s', 0.0) for j in jobs):.3f}",
        timestamp=predicate.get("created", ""),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("earned_level", predicate["levels"]["earned"]),
        ("declared_level", predicate["levels"]["declared"]),
        ("exit_code", str(predicate["decision"]["exit_code"])),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for job in jobs:
        _case(suite, job)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
