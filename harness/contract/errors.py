"""Contract errors as data: every issue names file, line, JSON path and what was expected.

Validation collects all issues (schema, lint) before anything is raised; the CLI decides how
many to print. ContractError is "the contract is wrong", never "the implementation failed".
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class ContractIssue:
    """One problem in a contract document, located by file:line and JSON path."""

    file: str
    line: int | None  # 1-based; None when the document came without lines (a report)
    path: str  # JSON path, e.g. $.falsifiers[2].thresholds[0].value
    message: str  # fact, then expectation
    severity: str = ERROR  # ERROR or WARNING

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        tag = "" if self.severity == ERROR else f"{self.severity}: "
        return f"{where}: {tag}{self.path}: {self.message}"

    def sort_key(self) -> tuple:
        return (self.file, self.line or 0, self.path, self.message)


class ContractError(Exception):
    """The contract failed to load; `issues` holds every error found (warnings excluded)."""

    def __init__(self, issues: list[ContractIssue]):
        self.issues = sorted(issues, key=ContractIssue.sort_key)
        first = str(self.issues[0]) if self.issues else "invalid contract"
        more = len(self.issues) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))


def errors_only(issues: list[ContractIssue]) -> list[ContractIssue]:
    return [i for i in issues if i.severity == ERROR]
