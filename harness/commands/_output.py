"""How every command speaks: its primary output (tables, results, JSON) on stdout, diagnostics
and progress on stderr, so `harness list C | less` and `harness audit R --format json | jq` work.

`--format text|json` exists on every command; with json, a failure is also one JSON object on
stdout, {"error": {"command", "message", "exit_code"}}, so a script never parses an empty
stream. `--quiet` drops progress and notes from stderr; errors always show there.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

LOG_WIDTH = 160  # CI logs are no terminal: rich would assume 80 columns and fold every id


def add_format(parser: argparse.ArgumentParser, extra: dict[str, str] | None = None) -> None:
    """--format text|json, plus `extra` {name: what it prints}."""
    extra = extra or {}
    parser.add_argument(
        "--format",
        choices=("text", "json", *extra),
        default="text",
        help="text for people (default); json: one JSON object on stdout"
        + "".join(f"; {name}: {what}" for name, what in extra.items()),
    )


def quiet(args) -> bool:
    return bool(getattr(args, "quiet", False))


def json_format(args) -> bool:
    return getattr(args, "format", None) == "json"


def _sized(console: Console) -> Console:
    if not console.is_terminal:
        console.width = LOG_WIDTH
    return console


def stdout_console() -> Console:
    """Where a command's primary text output goes."""
    return _sized(Console())


def stderr_console(args=None) -> Console:
    """Diagnostics and progress; silent under --quiet (errors use fail(), which never is)."""
    return _sized(Console(stderr=True, quiet=quiet(args)))


def note(args, message: str) -> None:
    """An informational line on stderr, dropped by --quiet."""
    if not quiet(args):
        print(message, file=sys.stderr)


def fail(args, command: str, message: str, code: int) -> int:
    """Report a failure on stderr (always) and, under --format json, as JSON on stdout."""
    print(f"harness {command}: {message}", file=sys.stderr)
    if json_format(args):
        print(json.dumps({"error": {"command": command, "message": message, "exit_code": code}}, indent=2))
    return code


def print_json(obj, *, allow_nan: bool = True) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=allow_nan) + "\n")
