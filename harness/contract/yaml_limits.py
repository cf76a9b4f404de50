"""Bounds on a contract's YAML, checked before it is composed, so a hostile file is refused with
file:line in well under a second instead of exhausting memory or the stack.

    document size   MAX_BYTES
    nesting depth   MAX_DEPTH (flow brackets are counted lexically first: ruamel's scanner is
                    quadratic in flow depth, so it must never see a deep one)
    nodes           MAX_NODES as written, MAX_EXPANDED once every alias is expanded
                    ("billion laughs": a few hundred bytes whose aliases expand to gigabytes)
    aliases         MAX_ALIASES

A real contract is a few hundred lines, about 2,000 nodes and a nesting depth under 10.
"""

from __future__ import annotations

import re

from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from harness.contract.errors import ContractError, ContractIssue

MAX_BYTES = 4 << 20
MAX_DEPTH = 64
MAX_NODES = 250_000
MAX_EXPANDED = 250_000
MAX_ALIASES = 10_000

# A quoted scalar starts only where a scalar may start; a quote inside a plain scalar (don't)
# is text. Comments start after whitespace. Everything else of interest is a flow bracket.
_LEXEMES = re.compile(
    r"""(?<![^\s\[\]{},:?-])(?:"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?)"""
    r"""|(?<!\S)\#[^\n]*|[\[\]{}]""",
    re.DOTALL,
)


def _refuse(file: str, line: int | None, message: str) -> ContractError:
    return ContractError([ContractIssue(file, line, "$", message)])


def check_size(text: str, file: str) -> None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise _refuse(file, None, f"document is {size} bytes, over the limit of {MAX_BYTES}")


def check_flow_depth(text: str, file: str) -> None:
    """Refuse flow collections nested deeper than MAX_DEPTH, before the scanner sees them."""
    depth = 0
    for match in _LEXEMES.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                raise _refuse(file, line, f"collections nested deeper than {MAX_DEPTH} levels")
        elif token in "]}":
            depth = max(depth - 1, 0)


def check_events(events, file: str) -> None:
    """Depth, node and alias counts over the parser's event stream (stops at the first excess)."""
    depth = nodes = aliases = 0
    for event in events:
        if isinstance(event, NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise _refuse(file, _line(event), f"more than {MAX_NODES} YAML nodes")
        if isinstance(event, AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _refuse(file, _line(event), f"more than {MAX_ALIASES} YAML aliases")
        elif isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse(file, _line(event), f"collections nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def check_expansion(root, file: str) -> None:
    """Refuse a composed graph whose alias-expanded size exceeds MAX_EXPANDED; linear in the
    distinct nodes (sizes are memoised per node), naming the innermost node over the bound."""
    from harness.contract.yaml_lines import json_path  # (yaml_lines imports this module)

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: met again means a cycle
    stack = [(root, (), False)]
    while stack:  # iterative post-order: no recursion on hostile depth
        node, parts, done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if done:
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c, _ in children)
            open_nodes.discard(id(node))
            continue
        if id(node) in open_nodes:
            raise ContractError(
                [ContractIssue(file, _line(node), json_path(parts), "recursive YAML alias; a contract is a tree")]
            )
        open_nodes.add(id(node))
        stack.append((node, parts, True))
        stack.extend((c, parts + (p,), False) for c, p in reversed(children) if id(c) not in sizes)
    if sizes[id(root)] <= MAX_EXPANDED:
        return
    node = root
    while True:  # descend to the innermost node still over the bound
        big = next((c for c, _ in _children(node) if sizes[id(c)] > MAX_EXPANDED), None)
        if big is None:
            break
        node = big
    raise _refuse(
        file, _line(node), f"aliases expand to more than {MAX_EXPANDED} nodes (alias bomb?); a contract is a small tree"
    )


def _children(node) -> list[tuple]:
    """(child node, its JSON-path part): items by index, keys and values by the key's text."""
    if isinstance(node, SequenceNode):
        return [(item, i) for i, item in enumerate(node.value)]
    if isinstance(node, MappingNode):
        return [(part, str(key.value)) for key, value in node.value for part in (key, value)]
    return []


def _line(item) -> int | None:
    mark = getattr(item, "start_mark", None)
    return mark.line + 1 if mark is not None else None
