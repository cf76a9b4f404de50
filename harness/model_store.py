"""Models the engine runs on: a contract model id (synthetic preset or GGUF path + sha256) or a
--model path, opened once per run and described for the report (path, sha256, config, inventory;
for text prompts, the tokenizer's digest and the ids each text became on that model).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from backends.model.errors import ModelFormatError
from backends.model.gguf_model import open_model
from backends.model.tokenizer import load_tokenizer
from backends.model.synth import cached_model
from harness.contract.model import Contract
from harness.falsifiers.registry import JobError
from harness.settings import cache_dir


def synthetic_model(preset: str, seed: int) -> Path:
    """The synthetic model (preset, seed) from the harness cache, generated on first use."""
    return cached_model(preset, seed, cache_dir())


class ModelStore:
    """Opens each model once. `opener(path)` exists so tests can hand in light stand-ins."""

    def __init__(
        self,
        contract: Contract,
        opener: Callable = open_model,
        synth: Callable = synthetic_model,
        tokenizer: Callable = load_tokenizer,
    ):
        self.contract, self._opener, self._synth = contract, opener, synth
        self._load_tokenizer = tokenizer
        self._open: dict[str, object] = {}
        self._tokenizers: dict[str, object] = {}
        self._prompt_ids: dict[str, dict[str, list[int]]] = {}

    def path_of(self, model_id: str) -> Path:
        """Where model `model_id` lives: a spec of the contract, else a path given with --model."""
        spec = self.contract.models.get(model_id)
        if spec is None:
            return Path(model_id)
        if spec.preset is not None:
            return Path(self._synth(spec.preset, int(spec.seed)))
        path = Path(spec.path)
        return path if path.is_absolute() else self.contract.path.parent / path

    def open(self, model_id: str):
        """The opened model; a pinned sha256 that does not match is an ERROR naming both."""
        if model_id not in self._open:
            path = self.path_of(model_id)
            if not path.is_file():
                raise JobError(f"model {model_id}: file {path} not found")
            model = self._opener(path)
            spec = self.contract.models.get(model_id)
            if spec is not None and spec.sha256 and model.sha256() != spec.sha256.lower():
                raise JobError(f"model {model_id}: {path} has sha256 {model.sha256()}, the contract pins {spec.sha256}")
            self._open[model_id] = model
        return self._open[model_id]

    def tokenizer(self, model_id: str):
        """The model's own tokenizer (built once); a file without a usable one is an ERROR."""
        if model_id not in self._tokenizers:
            try:
                self._tokenizers[model_id] = self._load_tokenizer(self.open(model_id))
            except ModelFormatError as exc:
                raise JobError(f"model {model_id}: {exc}") from exc
        return self._tokenizers[model_id]

    def prompt_tokens(self, model_id: str, name: str, text: str) -> list[int]:
        """The ids text prompt `name` becomes on this model, recorded for the report."""
        ids = self.tokenizer(model_id).encode(text)
        vocab = int(self.open(model_id).config.vocab_size)
        bad = [i for i in ids if not 0 <= i < vocab]
        if not ids or bad:
            raise JobError(
                f"model {model_id}: prompt {name!r} became ids {ids[:8]}, "
                f"{'empty' if not ids else f'id {bad[0]} outside 0..{vocab - 1}'}"
            )
        self._prompt_ids.setdefault(model_id, {})[name] = ids
        return list(ids)

    def describe(self) -> dict[str, dict]:
        """{model id: {path, sha256, config, inventory}} of every model opened during the run,
        plus {tokenizer, prompt_tokens} on models that tokenized a text prompt."""
        out = {}
        for model_id, m in self._open.items():
            cfg = m.config
            out[model_id] = {
                "path": str(m.path),
                "sha256": m.sha256(),
                "config": dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(vars(cfg)),
                "inventory": m.inventory() if callable(getattr(m, "inventory", None)) else [],
            }
            if model_id in self._tokenizers:
                out[model_id]["tokenizer"] = self._tokenizers[model_id].describe()
                out[model_id]["prompt_tokens"] = dict(self._prompt_ids.get(model_id, {}))
        return out
