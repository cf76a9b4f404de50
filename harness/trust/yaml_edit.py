"""Edit a contract's `status`, `version` and amendment history, and nothing else.

ruamel.yaml's round-trip loader locates the nodes (line and column of each value); the edit is
spliced into the original text at those positions, so every other byte (comments, key order,
quotes, flow-sequence wrapping) stays as written. A plain round-trip dump would re-wrap flow
sequences and rewrite `null`. The result is parsed again and compared with the intended
document before anyone writes it.
"""

from __future__ import annotations

import copy
import json
import re

from ruamel.yaml import YAML

from harness.trust.errors import TrustError

_SCALAR = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^\s#]+")
_SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$")


class ContractEditError(TrustError):
    """The contract cannot be edited safely (unexpected layout, or the edit did not round-trip)."""


def bump_minor(version: str) -> str:
    """"1.4.2" -> "1.5.0"; anything but a semver string is an error naming it."""
    m = _SEMVER.match(str(version))
    if not m:
        raise ContractEditError(f"version {version!r} is not a semver string like \"1.2.0\"")
    return f"{m.group(1)}.{int(m.group(2)) + 1}.0"


def _rt_load(text: str):
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml.load(text)


def _plain(node):
    return json.loads(json.dumps(node, default=str))


def _replace_scalar(lines: list[str], line: int, col: int, value: str, what: str) -> None:
    m = _SCALAR.match(lines[line], col)
    if not m:
        raise ContractEditError(f"line {line + 1}: cannot find the {what} value to replace")
    old = m.group(0)
    quote = old[0] if old[0] in "\"'" else ""
    if what == "version" and not quote:
        quote = '"'    # versions are always quoted strings (YAML would read 1.10 as 1.1)
    lines[line] = lines[line][:m.start()] + f"{quote}{value}{quote}" + lines[line][m.end():]


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _history_insert_at(lines: list[str], history) -> tuple[int, int, int]:
    """(insert line index, dash column, key column) after the last amendment entry."""
    if getattr(history.fa, "flow_style", lambda: False)() or not len(history):
        raise ContractEditError("metadata.amendment_history must be a non-empty block sequence")
    item_line, key_col = history.lc.item(len(history) - 1)
    dash_col = lines[item_line].rfind("-", 0, key_col)
    if dash_col < 0:
        raise ContractEditError(f"line {item_line + 1}: cannot find the amendment entry's '-'")
    end = item_line + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > dash_col):
        end += 1
    while end > item_line + 1 and not lines[end - 1].strip():
        end -= 1     # keep blank lines that separate sections after the new entry
    return end, dash_col, key_col


def _entry_lines(entry: dict, dash_col: int, key_col: int) -> list[str]:
    out = []
    for i, (key, value) in enumerate(entry.items()):
        lead = " " * dash_col + "-" + " " * (key_col - dash_col - 1) if i == 0 else " " * key_col
        out.append(f"{lead}{key}: {json.dumps(value, ensure_ascii=False)}\n")
    return out


def amend(text: str, status: str, entry: dict) -> str:
    """The contract text with `status` set, `version` = entry["version"], and `entry` appended.

    `entry` keys are written in their dict order, values as double-quoted YAML (JSON) strings.
    """
    doc = _rt_load(text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    history = doc["metadata"]["amendment_history"]
    at, dash_col, key_col = _history_insert_at(lines, history)
    lines[at:at] = _entry_lines(entry, dash_col, key_col)
    # Earlier lines keep their indices: status and version sit above the history.
    for key, value in (("status", status), ("version", entry["version"])):
        line, col = doc.lc.value(key)
        if line >= at:
            raise ContractEditError(f"`{key}` must come before metadata.amendment_history")
        _replace_scalar(lines, line, col, value, key)
    new_text = "".join(lines)
    _check_round_trip(doc, new_text, status, entry)
    return new_text


def _check_round_trip(doc, new_text: str, status: str, entry: dict) -> None:
    expected = copy.deepcopy(_plain(doc))
    expected["status"], expected["version"] = status, entry["version"]
    expected["metadata"]["amendment_history"].append(_plain(entry))
    got = _plain(_rt_load(new_text))
    if got != expected:
        raise ContractEditError("the edited contract does not parse to the intended document; "
                                "nothing was written")
