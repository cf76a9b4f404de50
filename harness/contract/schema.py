"""JSON Schema (draft 2020-12) validation of a contract document, errors mapped to file:line.

Every schema error becomes a ContractIssue whose message says what was found and what was
expected; the wording comes from the schema's `x-expected` keyword where one is given.
"""

from __future__ import annotations

import difflib
import functools
import json

import jsonschema
from jsonschema import Draft202012Validator

from contracts import SCHEMA_PATH
from harness.contract.errors import ContractIssue
from harness.contract.yaml_lines import LineMap, json_path

_YAML_TYPE_NAMES = {"float": "a float", "int": "an integer", "bool": "a boolean", "null": "null", "timestamp": "a date"}


@functools.lru_cache(maxsize=1)
def schema() -> dict:
    """The contract JSON Schema shipped with the package (contracts/schema/)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _unquoted_scalar(lines: LineMap, parts: tuple) -> str | None:
    """'a float' when the YAML at `parts` was an unquoted non-string scalar, else None."""
    info = lines.exact(parts)
    if info is None or info.text is None or info.quoted or info.tag.endswith(":str"):
        return None
    return _YAML_TYPE_NAMES.get(info.tag.rsplit(":", 1)[-1], "a non-string")


def _issues_for(err: jsonschema.ValidationError, file: str, lines: LineMap) -> list[ContractIssue]:
    parts = tuple(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {}))
        extras = [k for k in err.instance if k not in known]
        return [_unknown_key(file, lines, parts + (k,), known) for k in extras]
    if err.validator == "required" and isinstance(err.instance, dict):
        missing = [k for k in err.validator_value if k not in err.instance]
        return [
            ContractIssue(file, lines.line(parts), json_path(parts), f"missing required key {k!r}") for k in missing
        ]
    return [ContractIssue(file, lines.line(parts), json_path(parts), _message(err, lines, parts))]


def _unknown_key(file: str, lines: LineMap, parts: tuple, known: list) -> ContractIssue:
    close = difflib.get_close_matches(str(parts[-1]), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ContractIssue(
        file, lines.key_line(parts), json_path(parts), f"unknown key {parts[-1]!r}{hint}; expected one of {known}"
    )


def _message(err: jsonschema.ValidationError, lines: LineMap, parts: tuple) -> str:
    expected = err.schema.get("x-expected") if isinstance(err.schema, dict) else None
    if err.validator == "type" and "string" in _as_list(err.validator_value):
        read_as = _unquoted_scalar(lines, parts)
        if read_as:
            name = parts[-1] if parts else "value"
            text = lines.exact(parts).text
            return (
                f"{name} must be a quoted string: the unquoted {text} is read by YAML 1.2 "
                f'as {read_as} ({_short(err.instance)}); write {name}: "{text}"'
            )
    if expected:
        return f"expected {expected}, got {_short(err.instance)}"
    return err.message


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def schema_issues(data, file: str, lines: LineMap | None = None) -> list[ContractIssue]:
    """Every schema error in `data`, located via `lines`, sorted by line."""
    lines = lines or LineMap()
    issues: list[ContractIssue] = []
    for err in _validator().iter_errors(data):
        issues.extend(_issues_for(err, file, lines))
    # jsonschema yields one `required` error per missing key, each of which we expand in full
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=ContractIssue.sort_key)
