"""The engine side of the protocol for engines written in Python: serve(open_fn) answers the
harness's requests with any object that has the backends.api.Backend methods.

open_fn(model_path, act, faults, options) -> backend opens the model on load; raise
NotImplementedError for a planted fault the engine does not implement (the mutation suite then
reports "not applicable"), ValueError for a request it cannot take. Anything written to
sys.stdout while serving goes to stderr: stdout carries the protocol alone.
"""

from __future__ import annotations

import sys
from typing import Callable

from backends.external import wire

CAPABILITIES = ("trace", "generate", "memory")


def serve(open_fn: Callable, engine: dict, capabilities=CAPABILITIES, *, stdin=None, stdout=None) -> int:
    """Answer requests until close or end of input; returns the process exit code (0)."""
    inp = stdin or sys.stdin.buffer
    out = stdout or sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the framing
    state: dict = {"backend": None}
    while True:
        try:
            request = wire.read_header(inp)
        except wire.WireError as exc:
            if "end of stream" in str(exc):
                return 0
            out.write(wire.encode({"ok": False, "code": "bad_request", "error": str(exc)}))
            out.flush()
            continue
        op = request.get("op")
        try:
            header, arrays = _answer(op, request, state, open_fn, engine, capabilities)
        except NotImplementedError as exc:
            header, arrays = {"ok": False, "code": "unsupported_fault", "error": str(exc)}, None
        except (ValueError, KeyError, TypeError) as exc:
            header, arrays = {"ok": False, "code": "bad_request", "error": f"{type(exc).__name__}: {exc}"}, None
        except Exception as exc:  # noqa: BLE001  (the harness records it; the engine goes on)
            header, arrays = {"ok": False, "code": "failed", "error": f"{type(exc).__name__}: {exc}"}, None
        out.write(wire.encode(header, arrays))
        out.flush()
        if op == "close":
            return 0


def _answer(op, request: dict, state: dict, open_fn, engine: dict, capabilities):
    if op == "hello":
        return {"ok": True, "protocol": wire.PROTOCOL, "engine": engine, "capabilities": list(capabilities)}, None
    if op == "close":
        if state["backend"] is not None:
            state["backend"].close()
        return {"ok": True}, None
    if op == "load":
        state["backend"] = open_fn(
            request["model"],
            request.get("act", "fp32"),
            frozenset(request.get("faults") or ()),
            dict(request.get("options") or {}),
        )
        return {"ok": True}, None
    b = state["backend"]
    if b is None:
        raise ValueError(f"op {op!r} before load")
    if op == "reset":
        b.reset()
        return {"ok": True}, None
    if op == "prefill":
        return {"ok": True}, {"logits": b.prefill([int(t) for t in request["tokens"]])}
    if op == "decode":
        return {"ok": True}, {"logits": b.decode(int(request["token"]))[None]}
    if op == "trace" and "trace" in capabilities:
        tr = b.trace([int(t) for t in request["tokens"]], request.get("prefill_len"))
        return {"ok": True}, {
            k: getattr(tr, k)
            for k in ("logits", "hidden_attn", "hidden", "router_ids", "router_weights", "router_probs")
        }
    if op == "generate" and "generate" in capabilities:
        timings: dict = {}
        ids = b.generate([int(t) for t in request["tokens"]], int(request["n"]), timings)
        return {"ok": True, "ids": [int(i) for i in ids], "timings": timings}, None
    if op == "memory" and "memory" in capabilities:
        weights = getattr(b, "weight_bytes", None)
        return {
            "ok": True,
            "bytes": int(b.memory_bytes()),
            **({"weight_bytes": int(weights())} if callable(weights) else {}),
        }, None
    return {"ok": False, "code": "unknown_op", "error": f"unknown op {op!r}"}, None
