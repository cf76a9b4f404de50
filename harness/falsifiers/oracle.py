"""`oracle`: logits against a pinned fixture computed by an implementation nobody here wrote.

params: fixture (path relative to the contract's directory, an .npz), sha256 (of the fixture
file; null means "not pinned yet", which cannot pass), prompts, optional prefill_fraction.
Fixture layout: for each prompt name P, arrays "P/tokens" (T,) int and "P/logits" (T, V);
optionally "meta/model_sha256", which must equal the job's model file digest.
Metrics: cosine_min, argmax_agreement, logits_rel_l2_max, max_abs.
"""

from __future__ import annotations

import hashlib

import numpy as np

from harness.falsifiers.metrics import argmax_agreement, cosine_rows, max_abs, rel_l2_rows
from harness.falsifiers.registry import JobFailed, Outcome, param, prefill_len, register


@register("oracle")
class Oracle:
    def run(self, ctx) -> Outcome:
        path = ctx.contract_dir / str(param(ctx.falsifier, "fixture"))
        fixture = load_pinned(path, ctx.params.get("sha256"))
        _check_model(fixture, ctx.model, path)
        rows = []
        for name in param(ctx.falsifier, "prompts"):
            tokens = ctx.prompt(name)
            want = _fixture_logits(fixture, name, tokens, path)
            got = ctx.backend.trace(tokens, prefill_len(len(tokens), ctx.params.get("prefill_fraction"))).logits
            if got.shape != want.shape:
                raise JobFailed(f"{path}: {name}/logits has shape {want.shape}, the backend gave {got.shape}")
            rows.append(
                {
                    "prompt": name,
                    "cosine_min": float(np.min(cosine_rows(got, want))),
                    "argmax_agreement": argmax_agreement(got, want),
                    "logits_rel_l2_max": float(np.max(rel_l2_rows(got, want))),
                    "max_abs": max_abs(got, want),
                }
            )
        m = {
            "cosine_min": min(r["cosine_min"] for r in rows),
            "argmax_agreement": min(r["argmax_agreement"] for r in rows),
            "logits_rel_l2_max": max(r["logits_rel_l2_max"] for r in rows),
            "max_abs": max(r["max_abs"] for r in rows),
        }
        return Outcome(m, {"fixture": str(path), "per_prompt": rows})


def load_pinned(path, sha256):
    """Open the fixture only if its digest is pinned and matches; else FAIL with the reason."""
    if not sha256:
        raise JobFailed(f"fixture {path}: params.sha256 is not pinned (null); an unpinned fixture is not evidence")
    if not path.is_file():
        raise JobFailed(f"fixture {path} is missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != str(sha256).lower():
        raise JobFailed(f"fixture {path}: sha256 {digest} does not match the pinned {sha256}")
    return np.load(path, allow_pickle=False)


def _check_model(fixture, model, path) -> None:
    """A fixture computed on other model bytes says nothing about this model: FAIL, naming both."""
    key = "meta/model_sha256"
    if key not in fixture.files:
        return
    pinned = "".join(str(x) for x in np.asarray(fixture[key]).reshape(-1))  # 0-d or (1,) array
    if pinned != model.sha256():
        raise JobFailed(
            f"fixture {path} was computed on model sha256 {pinned}, "
            f"this model is {model.sha256()}; regenerate the fixture"
        )


def _fixture_logits(fixture, name: str, tokens: list[int], path) -> np.ndarray:
    for key in (f"{name}/tokens", f"{name}/logits"):
        if key not in fixture.files:
            raise JobFailed(f"fixture {path} has no array {key!r}")
    if [int(t) for t in fixture[f"{name}/tokens"]] != tokens:
        raise JobFailed(f"fixture {path}: {name}/tokens differ from the contract's prompt {name}")
    return np.asarray(fixture[f"{name}/logits"], dtype=np.float32)
