"""The validated contract as frozen dataclasses: what the planner and the judge read.

Built by harness.contract.loader after the JSON Schema and the semantic lint pass, so these
classes assume well-formed data. `Contract.data` keeps the plain dict for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LEVEL_LADDER = ("DRAFT", "ACTIVE_ALGORITHM_LEVEL", "ACTIVE_RUNTIME")


@dataclass(frozen=True)
class Threshold:
    metric: str
    comparator: str  # one of ">=", ">", "<=", "<", "=="
    value: float


@dataclass(frozen=True)
class DeviceCell:
    id: str
    backend: str  # "cpu", "wgpu", "external" or "llama-cpp"
    hardware: bool
    selector: dict = field(default_factory=dict)  # backends.wgpu.device.match_selector keys
    description: str = ""
    engine: dict = field(default_factory=dict)  # external / llama-cpp: command, timeouts, options


@dataclass(frozen=True)
class ModelSpec:
    id: str
    preset: str | None = None  # synthetic preset, or
    seed: int | None = None
    path: str | None = None  # a GGUF file
    sha256: str | None = None


@dataclass(frozen=True)
class TextPrompt:
    """A prompt given as text: each model's own tokenizer turns it into ids at run time."""

    text: str


Prompt = tuple[int, ...] | TextPrompt


@dataclass(frozen=True)
class Falsifier:
    id: str
    claim: str
    kind: str
    params: dict[str, Any]
    thresholds: tuple[Threshold, ...]
    devices: tuple[str, ...]
    tags: tuple[str, ...] = ()
    if_fails: str = ""


@dataclass(frozen=True)
class Waiver:
    falsifier: str
    cell: str
    owner: str
    reason: str
    expires: str  # ISO date


@dataclass(frozen=True)
class Level:
    name: str
    predicate: dict  # {all_of|any_of: [...]} | {quorum: {min, of}} | {pass: {falsifiers, cells}}
    freshness_days: int | None = None
    description: str = ""


@dataclass(frozen=True)
class Contract:
    path: Path
    raw: bytes  # the file's bytes, hashed for the report subject
    data: dict  # the plain parsed document
    schema_version: int
    name: str
    version: str
    status: str
    models: dict[str, ModelSpec]
    default_model: str
    prompts: dict[str, Prompt]  # token ids, or a TextPrompt
    devices: tuple[DeviceCell, ...]
    falsifiers: tuple[Falsifier, ...]
    levels: dict[str, Level]  # keyed by level name, ordered as LEVEL_LADDER
    waivers: tuple[Waiver, ...] = ()

    def falsifier(self, fid: str) -> Falsifier:
        return next(f for f in self.falsifiers if f.id == fid)

    def cell(self, cid: str) -> DeviceCell:
        return next(c for c in self.devices if c.id == cid)
