"""`determinism`: the same prompt run several times from an empty cache gives the same logits.

params: prompts, runs (>= 2), optional prefill_fraction. Metrics: max_abs_diff (largest
difference of any run from the first), cosine_min (lowest cosine of any run to the first).
"""

from __future__ import annotations

import numpy as np

from harness.falsifiers.metrics import cosine_rows, max_abs
from harness.falsifiers.registry import JobError, Outcome, param, prefill_len, register


@register("determinism")
class Determinism:
    def run(self, ctx) -> Outcome:
        runs = int(param(ctx.falsifier, "runs"))
        if runs < 2:
            raise JobError(f"{ctx.falsifier.id}: params.runs must be >= 2 to compare runs, got {runs}")
        diffs, cosines, per_prompt = [], [], []
        for name in param(ctx.falsifier, "prompts"):
            tokens = ctx.prompt(name)
            n = prefill_len(len(tokens), ctx.params.get("prefill_fraction"))
            first = ctx.backend.trace(tokens, n).logits
            for _ in range(runs - 1):
                again = ctx.backend.trace(tokens, n).logits
                diffs.append(max_abs(again, first))
                cosines.append(float(np.min(cosine_rows(again, first))))
            per_prompt.append({"prompt": name, "max_abs_diff": max(diffs[-(runs - 1) :])})
        return Outcome({"max_abs_diff": max(diffs), "cosine_min": min(cosines)}, {"per_prompt": per_prompt})
