"""The closed vocabulary of falsifier kinds: one class per kind, registered by a decorator.

A kind turns (falsifier params, the job's context) into measurements {metric: float} plus
diagnostics; it never judges. The judge (harness.judge) compares measurements with the
contract's thresholds. An unknown kind is a contract error, never a silent skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.contract.model import TextPrompt

KINDS: dict[str, type] = {}


class UnknownKind(ValueError):
    """The contract names a falsifier kind nobody registered (contract error, exit 2)."""


class JobFailed(Exception):
    """The evidence itself refutes the claim before any metric exists (e.g. a fixture whose
    digest does not match): the job is FAIL with this reason."""


class JobNotRun(Exception):
    """The job cannot run here for a reason that is not a defect (NOT_RUN with this reason)."""


class JobError(Exception):
    """The harness cannot produce evidence (e.g. the reference backend is missing): ERROR."""


@dataclass
class Outcome:
    """What a kind measured: finite floats keyed by metric name, and free-form diagnostics."""

    measurements: dict[str, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Everything a kind may touch for one job; the runner builds it.

    backend: the backend of the job's cell on the job's model (shared across that cell's jobs).
    reference(name): a backend for a reference named in params (a cell id or a backend name).
    text_tokens(name, text): the ids a text prompt becomes with the job's model's tokenizer.
    """

    falsifier: Any  # harness.contract.model.Falsifier
    cell: Any  # harness.contract.model.DeviceCell
    model: Any  # opened model (backends.model.gguf_model.GGUFModel)
    model_id: str
    prompts: dict[str, Any]  # name -> token ids or a TextPrompt
    contract_dir: Path
    backend_factory: Callable[[], Any]
    reference: Callable[[str], Any]
    text_tokens: Callable[[str, str], list[int]] | None = None
    _backend: Any = None

    @property
    def params(self) -> dict:
        return self.falsifier.params

    @property
    def backend(self):
        if self._backend is None:
            self._backend = self.backend_factory()
        return self._backend

    def prompt(self, name: str) -> list[int]:
        """Token ids of a named prompt (a text prompt through the model's tokenizer); an unknown
        name is a contract error naming it."""
        if name not in self.prompts:
            raise JobError(
                f"{self.falsifier.id}: prompt {name!r} is not in the contract's prompts "
                f"({', '.join(sorted(self.prompts))})"
            )
        prompt = self.prompts[name]
        if isinstance(prompt, TextPrompt):
            if self.text_tokens is None:
                raise JobError(f"{self.falsifier.id}: prompt {name!r} is text and this run has no tokenizer")
            return list(self.text_tokens(name, prompt.text))
        return list(prompt)

    def threshold(self, metric: str) -> float | None:
        """The contract's value for `metric` (used only to locate diagnostics, never to judge)."""
        return next((float(t.value) for t in self.falsifier.thresholds if t.metric == metric), None)


def register(kind: str):
    """Class decorator: register a falsifier kind under `kind` (one class per kind)."""

    def wrap(cls):
        if kind in KINDS:
            raise ValueError(f"falsifier kind {kind!r} registered twice")
        cls.kind = kind
        KINDS[kind] = cls
        return cls

    return wrap


def get_kind(kind: str):
    """An instance of the registered kind; UnknownKind names the known ones."""
    if kind not in KINDS:
        raise UnknownKind(f"unknown falsifier kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[kind]()


def param(falsifier, key: str):
    """A required param; missing is a contract error naming the falsifier and the key."""
    if key not in falsifier.params:
        raise JobError(f"{falsifier.id}: params.{key} is required for kind {falsifier.kind}")
    return falsifier.params[key]


def prefill_len(n_tokens: int, fraction) -> int | None:
    """How many tokens to prefill before teacher-forced decoding; None prefills them all."""
    if fraction is None:
        return None
    return min(n_tokens, max(1, int(n_tokens * float(fraction))))
