"""Edit a contract's `status`, `version` and amendment history, and nothing else.

ruamel.yaml's round-trip loader locates the nodes (line and column of each value); the edit is
spliced into the original text at those positions, so every other byte (comments, key order,
quotes, flow-sequence wrapping) stays as written. A plain round-trip dump would re-wrap flow
sequences and rewrite `null`. A block-style history gets the entry as block lines in the
items' indentation; a flow-style one (a contract written as JSON) gets a flow mapping after its
last item. The result is parsed again and compared with the intended document before anyone
writes it.
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
    """ "1.4.2" -> "1.5.0"; anything but a semver string is an error naming it."""
    m = _SEMVER.match(str(version))
    if not m:
        raise ContractEditError(f'version {version!r} is not a semver string like "1.2.0"')
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
        quote = '"'  # versions are always quoted strings (YAML would read 1.10 as 1.1)
    lines[line] = lines[line][: m.start()] + f"{quote}{value}{quote}" + lines[line][m.end() :]


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _entry_lines(entry: dict, dash_col: int, key_col: int) -> list[str]:
    out = []
    for i, (key, value) in enumerate(entry.items()):
        lead = " " * dash_col + "-" + " " * (key_col - dash_col - 1) if i == 0 else " " * key_col
        out.append(f"{lead}{key}: {json.dumps(value, ensure_ascii=False)}\n")
    return out


def _block_insert(lines: list[str], history, entry: dict) -> None:
    """Append `entry` after the last item of a block sequence, in the items' indentation."""
    item_line, key_col = history.lc.item(len(history) - 1)
    dash_col = lines[item_line].rfind("-", 0, key_col)
    if dash_col < 0:
        raise ContractEditError(f"line {item_line + 1}: cannot find the amendment entry's '-'")
    end = item_line + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > dash_col):
        end += 1
    while end > item_line + 1 and not lines[end - 1].strip():
        end -= 1  # keep blank lines that separate sections after the new entry
    lines[end:end] = _entry_lines(entry, dash_col, key_col)


def _flow_end(lines: list[str], line: int, col: int) -> tuple[int, int]:
    """(line, col) just past the flow mapping that opens at (line, col), quotes respected."""
    depth, quote = 0, ""
    while line < len(lines):
        text = lines[line]
        while col < len(text):
            ch = text[col]
            if quote:
                if ch == "\\" and quote == '"':
                    col += 1
                elif ch == quote:
                    quote = ""
            elif ch in "\"'":
                quote = ch
            elif ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                if depth == 0:
                    return line, col + 1
            col += 1
        line, col = line + 1, 0
    raise ContractEditError("metadata.amendment_history: unterminated flow mapping")


def _flow_insert(lines: list[str], history, entry: dict) -> None:
    """Append `entry` as a flow mapping after the last item of a flow sequence (JSON layout)."""
    line, col = history.lc.item(len(history) - 1)
    if lines[line][col] != "{":
        raise ContractEditError(f"line {line + 1}: amendment entry is not a mapping")
    end_line, end_col = _flow_end(lines, line, col)
    text = lines[end_line]
    lines[end_line] = text[:end_col] + ", " + json.dumps(entry, ensure_ascii=False) + text[end_col:]


def amend(text: str, status: str, entry: dict) -> str:
    """The contract text with `status` set, `version` = entry["version"], and `entry` appended.

    `entry` keys are written in their dict order, values as double-quoted YAML (JSON) strings.
    """
    doc = _rt_load(text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    history = doc["metadata"]["amendment_history"]
    if not len(history):
        raise ContractEditError("metadata.amendment_history is empty; nothing to append to")
    # Positions come from the original text: the history (the last thing edited in reading
    # order) is appended first, then status and version right to left, so no edit moves a
    # position still to be used.
    edits = sorted(
        ((tuple(doc.lc.value(k)), k, v) for k, v in (("status", status), ("version", entry["version"]))), reverse=True
    )
    if edits[0][0] >= tuple(history.lc.item(len(history) - 1)):
        raise ContractEditError(f"`{edits[0][1]}` must come before metadata.amendment_history")
    if history.fa.flow_style():
        _flow_insert(lines, history, entry)
    else:
        _block_insert(lines, history, entry)
    for (line, col), key, value in edits:  # right to left: earlier columns stay valid
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
        raise ContractEditError("the edited contract does not parse to the intended document; nothing was written")
