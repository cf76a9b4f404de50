"""ExternalBackend: backends.api.Backend spoken to an engine subprocess (docs/engine-protocol.md).

The engine is started when the backend opens: hello (protocol version and identity, matched
against the cell's selector: a mismatch is BackendUnavailable, the cell is NOT_RUN), then load
(the model path, act, planted faults for the mutation suite, engine options). Every answer is
checked before it is believed: tensor shapes against the model's config, every float finite,
generated ids in the vocabulary. A broken answer (wrong shapes or framing), a timeout or a dead
process raises EngineError quoting the engine's stderr tail: the runner records the job as
ERROR. NaN/inf in an answer raises NonFiniteOutput: a wrong answer, so the job FAILs.
Optional ops the engine does not list in its capabilities are emulated where that is exact
(generate: the host loop; trace: teacher-forced logits without per-layer states) or refused with
CapabilityMissing (memory), which makes the job NOT_RUN with the reason.
"""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from backends.api import BackendUnavailable, CapabilityMissing, NonFiniteOutput, Trace, greedy_host_loop
from backends.external.process import EngineError, EngineProcess, EngineRefused
from backends.external.wire import PROTOCOL
from backends.wgpu.device import match_selector

DEFAULT_TIMEOUT_S = 300.0  # one request (a cell's engine.timeout_s overrides it)
DEFAULT_LOAD_TIMEOUT_S = 600.0  # start-up: hello + load (engine.load_timeout_s)
IDENTITY_KEYS = ("adapter", "vendor_id", "device_id", "backend_type", "adapter_type", "driver", "is_cpu")
_LAYER_KEYS = ("hidden_attn", "hidden", "router_ids", "router_weights", "router_probs")


def engine_argv(command: Sequence[str]) -> list[str]:
    """The cell's command with "{python}" replaced by this interpreter (portable contracts)."""
    return [sys.executable if str(a) == "{python}" else str(a) for a in command]


def missing(engine: dict) -> str:
    """Why this cell's engine cannot start here (its program is not found), or ""."""
    argv = engine_argv(engine.get("command") or [""])
    if shutil.which(argv[0]) or Path(argv[0]).is_file():
        return ""
    return f"engine command {argv[0]!r} not found (not on PATH, not a file)"


class ExternalBackend:
    name = "external"

    def __init__(self, model, *, device=None, act="fp32", faults=frozenset(), engine=None):
        engine = dict(engine or {})
        if not engine.get("command"):
            raise ValueError(
                "external backend: the cell's engine.command is required (an engine "
                "runs from a contract's device cell: docs/engine-protocol.md)"
            )
        self.model, self.act, self.faults = model, act, frozenset(faults)
        self.timeout = float(engine.get("timeout_s", DEFAULT_TIMEOUT_S))
        load_timeout = float(engine.get("load_timeout_s", DEFAULT_LOAD_TIMEOUT_S))
        self.proc = EngineProcess(engine_argv(engine["command"]))
        try:
            hello, _ = self.proc.exchange({"op": "hello", "protocol": PROTOCOL}, None, load_timeout)
            self._identity = self._check_hello(hello, device)
            self._load(engine.get("options") or {}, load_timeout)
        except BaseException:
            self.proc.kill()
            raise

    # -- start-up -------------------------------------------------------------------------
    def _check_hello(self, hello: dict, selector: dict | None) -> dict:
        if hello.get("protocol") != PROTOCOL:
            raise EngineError(f"engine speaks protocol {hello.get('protocol')!r}, the harness speaks {PROTOCOL}")
        info = hello.get("engine")
        if not isinstance(info, dict) or not info.get("name"):
            raise EngineError("hello: the answer has no engine identity {name, version, ...}")
        self.capabilities = frozenset(str(c) for c in hello.get("capabilities") or ())
        self.act = str(info.get("act") or self.act)  # an engine fixed to one path says which
        ident = {
            "backend": self.name,
            "engine": str(info["name"]),
            "engine_version": str(info.get("version", "")),
            **{k: info.get(k) for k in IDENTITY_KEYS},
            "fallback": bool(info.get("fallback", False)),
            "capabilities": sorted(self.capabilities),
            "protocol": PROTOCOL,
            "command": self.proc.argv,
        }
        ident["is_cpu"] = bool(ident["is_cpu"])
        view = {
            "name": ident["adapter"] or "",
            "vendor_id": ident["vendor_id"],
            "backend_type": ident["backend_type"] or "",
            "adapter_type": ident["adapter_type"] or "",
        }
        if not match_selector(view, selector):
            raise BackendUnavailable(
                f"engine {ident['engine']} reports device {view}, which does not match the cell's selector {selector}"
            )
        return ident

    def _load(self, options: dict, timeout: float) -> None:
        request = {
            "op": "load",
            "model": str(self.model.path.resolve()),
            "act": self.act,
            "faults": sorted(self.faults),
            "options": options,
        }
        try:
            self.proc.exchange(request, None, timeout)
        except EngineRefused as exc:
            if exc.code == "unsupported_fault":  # the mutation suite: "not applicable"
                raise NotImplementedError(str(exc)) from exc
            raise

    def identity(self) -> dict:
        return {**self._identity, "act": self.act, "faults": sorted(self.faults)}

    # -- the API --------------------------------------------------------------------------
    def _ask(self, request: dict, expect=None) -> tuple[dict, dict]:
        header, tensors = self.proc.exchange(request, expect, self.timeout)
        for name, arr in tensors.items():
            if arr.dtype == np.float32 and not np.all(np.isfinite(arr)):
                bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
                raise NonFiniteOutput(
                    f"engine {self._identity['engine']}: {request['op']}: tensor "
                    f"{name} has {bad} non-finite value(s) (NaN/inf); stderr "
                    f"tail:\n{self.proc.stderr_tail() or '(empty)'}"
                )
        return header, tensors

    def _logits_shape(self, n: int) -> dict:
        return {"logits": ("f32", (n, self.model.config.vocab_size))}

    def reset(self) -> None:
        self._ask({"op": "reset"})

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        tokens = [int(t) for t in tokens]
        _, t = self._ask({"op": "prefill", "tokens": tokens}, lambda h: self._logits_shape(len(tokens)))
        return t["logits"]

    def decode(self, token: int) -> np.ndarray:
        _, t = self._ask({"op": "decode", "token": int(token)}, lambda h: self._logits_shape(1))
        return t["logits"][0]

    def trace(self, tokens: Sequence[int], prefill_len: int | None = None) -> Trace:
        tokens = [int(t) for t in tokens]
        n_pre = len(tokens) if prefill_len is None else int(prefill_len)
        if not 1 <= n_pre <= len(tokens):
            raise ValueError(f"prefill_len {prefill_len} is not in 1..{len(tokens)}")
        meta = {
            "act": self.act,
            "prefill_len": n_pre,
            "backend": self.name,
            "engine": self._identity["engine"],
            "faults": sorted(self.faults),
        }
        if "trace" not in self.capabilities:
            self.reset()
            rows = [self.prefill(tokens[:n_pre])] + [self.decode(t)[None] for t in tokens[n_pre:]]
            return Trace(
                np.concatenate(rows),
                None,
                None,
                None,
                None,
                None,
                meta={
                    **meta,
                    "layers": f"engine {self._identity['engine']} does not offer the trace op (no per-layer states)",
                },
            )
        _, t = self._ask(
            {"op": "trace", "tokens": tokens, "prefill_len": n_pre}, lambda h: self._trace_shapes(len(tokens))
        )
        return Trace(t["logits"], *(t[k] for k in _LAYER_KEYS), meta=meta)

    def _trace_shapes(self, T: int) -> dict:
        c = self.model.config
        L, H, k = c.n_layer, c.n_embd, c.n_expert_used
        return {
            **self._logits_shape(T),
            "hidden_attn": ("f32", (L, T, H)),
            "hidden": ("f32", (L, T, H)),
            "router_ids": ("i32", (L, T, k)),
            "router_weights": ("f32", (L, T, k)),
            "router_probs": ("f32", (L, T, c.n_expert)),
        }

    def generate(self, tokens: Sequence[int], n: int, timings: dict | None = None) -> list[int]:
        if "generate" not in self.capabilities:
            return greedy_host_loop(self, tokens, n, timings)
        header, _ = self._ask({"op": "generate", "tokens": [int(t) for t in tokens], "n": int(n)})
        ids, times = header.get("ids"), header.get("timings") or {}
        vocab = self.model.config.vocab_size
        if (
            not isinstance(ids, list)
            or len(ids) != max(int(n), 0)
            or not all(isinstance(i, int) and 0 <= i < vocab for i in ids)
        ):
            raise EngineError(f"generate: expected {n} ids in 0..{vocab - 1}, got {ids!r:.200}")
        if timings is not None and n > 0:
            timings.update({k: _seconds(times.get(k), k) for k in ("prefill_s", "decode_s")})
        return ids

    def memory_bytes(self) -> int:
        return self._memory()["bytes"]

    def weight_bytes(self) -> int:
        """Weight bytes when the engine reports them, else all its bytes (an upper bound)."""
        mem = self._memory()
        return mem.get("weight_bytes", mem["bytes"])

    def _memory(self) -> dict:
        if "memory" not in self.capabilities:
            raise CapabilityMissing(
                f"engine {self._identity['engine']} reports no memory figure (capability 'memory' not offered)"
            )
        header, _ = self._ask({"op": "memory"})
        out = {k: header[k] for k in ("bytes", "weight_bytes") if k in header}
        if not all(isinstance(v, int) and v >= 0 for v in out.values()) or "bytes" not in out:
            raise EngineError(f"memory: expected non-negative integer bytes, got {header!r:.200}")
        return out

    def counters(self) -> dict:
        return {}

    def close(self) -> None:
        self.proc.close(min(self.timeout, 10.0))


def _seconds(value, key: str) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise EngineError(f"generate: timings.{key} must be a non-negative number, got {value!r}")
    return float(value)
