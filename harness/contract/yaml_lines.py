"""Strict YAML 1.2 loading that remembers where every value came from.

`load_yaml(text, file)` returns the plain document (dict/list/str/int/float/bool/None; dates as
ISO strings) and a LineMap from JSON-path parts to the node's 1-based line. Duplicate keys, a
`%YAML 1.1` directive, several documents, recursive aliases, custom tags and syntax errors are
ContractErrors naming file:line. The file is composed once; duplicate keys are found on the node
graph before construction, so every duplicate is reported with its full JSON path, not just
the first one ruamel trips over.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from harness.contract import yaml_limits
from harness.contract.errors import ContractError, ContractIssue

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_OLD_DIRECTIVE = re.compile(r"^%YAML\s+1\.[01]\b", re.MULTILINE)


def json_path(parts) -> str:
    """JSON path text for path parts: ('falsifiers', 2, 'id') -> $.falsifiers[2].id"""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(str(part)):
            out += f".{part}"
        else:
            out += f"[{str(part)!r}]"
    return out


@dataclass(frozen=True)
class NodeInfo:
    """Where a value sits in the file and how it was written."""

    line: int  # 1-based line of the value
    key_line: int  # line of its mapping key (== line for sequence items / the root)
    tag: str  # resolved YAML tag, e.g. tag:yaml.org,2002:float
    text: str | None = None  # the scalar as written (None for collections)
    quoted: bool = False


class LineMap:
    """JSON-path parts -> NodeInfo; lookups fall back to the nearest enclosing node."""

    def __init__(self, nodes: dict[tuple, NodeInfo] | None = None):
        self.nodes = nodes or {}

    def info(self, parts) -> NodeInfo | None:
        parts = tuple(parts)
        while parts not in self.nodes and parts:
            parts = parts[:-1]
        return self.nodes.get(parts)

    def line(self, parts) -> int | None:
        found = self.info(parts)
        return found.line if found else None

    def key_line(self, parts) -> int | None:
        found = self.info(parts)
        return found.key_line if found else None

    def exact(self, parts) -> NodeInfo | None:
        return self.nodes.get(tuple(parts))


class _Walker:
    """Collects NodeInfo for every path and every duplicate key of a composed node graph."""

    def __init__(self, file: str):
        self.file = file
        self.nodes: dict[tuple, NodeInfo] = {}
        self.dups: list[tuple[tuple, int, int]] = []  # (path, line, line of the first)

    def walk(self, node, parts: tuple = (), key_line: int = 1, seen: tuple = ()) -> None:
        line = node.start_mark.line + 1
        if any(node is ancestor for ancestor in seen):
            raise ContractError(
                [ContractIssue(self.file, line, json_path(parts), "recursive YAML alias; a contract is a tree")]
            )
        if isinstance(node, ScalarNode):
            self.nodes[parts] = NodeInfo(line, key_line, str(node.tag), node.value, node.style is not None)
            return
        self.nodes[parts] = NodeInfo(line, key_line, str(node.tag))
        seen = seen + (node,)
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, parts + (i,), item.start_mark.line + 1, seen)
        elif isinstance(node, MappingNode):
            self._mapping(node, parts, seen)

    def _mapping(self, node: MappingNode, parts: tuple, seen: tuple) -> None:
        first_line: dict = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else str(key_node.value)
            k_line = key_node.start_mark.line + 1
            if key in first_line:
                self.dups.append((parts + (key,), k_line, first_line[key]))
                continue
            first_line[key] = k_line
            self.walk(value_node, parts + (key,), k_line, seen)


def _plain(value):
    """ruamel's constructed values -> plain JSON-like Python (dates as ISO text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _syntax_issue(file: str, exc: MarkedYAMLError, what: str = "YAML syntax error") -> ContractIssue:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
    return ContractIssue(file, line, "$", f"{what}: {problem}")


def load_yaml(text: str, file: str) -> tuple[object, LineMap]:
    """Parse one YAML 1.2 document strictly; return (plain data, LineMap)."""
    directive = _OLD_DIRECTIVE.search(text)
    if directive:
        line = text.count("\n", 0, directive.start()) + 1
        raise ContractError([ContractIssue(file, line, "$", "YAML 1.1 directive found; contracts are YAML 1.2 only")])
    yaml_limits.check_size(text, file)
    yaml_limits.check_flow_depth(text, file)
    yaml = YAML(typ="safe", pure=True)  # YAML 1.2 resolver; plain Python values
    try:
        yaml_limits.check_events(yaml.parse(text), file)
        docs = list(yaml.compose_all(text))
    except MarkedYAMLError as exc:
        raise ContractError([_syntax_issue(file, exc)]) from exc
    except RecursionError:  # the bounds above should make this unreachable; never a traceback
        raise ContractError([ContractIssue(file, None, "$", "YAML nested too deeply")]) from None
    if len(docs) != 1 or docs[0] is None:
        raise ContractError([ContractIssue(file, 1, "$", f"expected exactly one YAML document, found {len(docs)}")])
    yaml_limits.check_expansion(docs[0], file)
    walker = _Walker(file)
    walker.walk(docs[0])
    if walker.dups:
        raise ContractError(
            [
                ContractIssue(
                    file,
                    line,
                    json_path(parts),
                    f"duplicate key {parts[-1]!r} (first defined on line {first}); each key may appear once",
                )
                for parts, line, first in walker.dups
            ]
        )
    # construct from the nodes already composed (and checked for duplicates): one parse only
    try:
        data = yaml.constructor.construct_document(docs[0])
    except MarkedYAMLError as exc:  # e.g. an unknown !tag: contracts are plain data
        raise ContractError([_syntax_issue(file, exc, "unsupported YAML tag")]) from exc
    return _plain(data), LineMap(walker.nodes)
