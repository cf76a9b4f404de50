"""`memory`: what the backend keeps resident, and whether it expanded the weights.

Runs one decode step first, then measures. Metrics: device_bytes (backend.memory_bytes():
weights + KV cache + scratch) and
weight_expansion_ratio = resident weight bytes / the file's tensor bytes. A backend that reports
its weight bytes separately (weight_bytes()) is measured on those; otherwise all resident bytes
count as weights, an upper bound that can only make the ratio worse, never better.
"""

from __future__ import annotations

from harness.falsifiers.registry import JobError, Outcome, register


@register("memory")
class Memory:
    def run(self, ctx) -> Outcome:
        # one real step first: resident bytes count only for a backend that actually computes
        # with them (and the runner's no-GPU-submission check then means what it says)
        ctx.backend.reset()
        ctx.backend.prefill([0])
        device_bytes = int(ctx.backend.memory_bytes())
        weight_fn = getattr(ctx.backend, "weight_bytes", None)
        weights = int(weight_fn()) if callable(weight_fn) else device_bytes
        file_bytes = sum(int(t.nbytes) for t in ctx.model.tensors.values())
        if file_bytes <= 0:
            raise JobError(f"model {ctx.model_id}: no tensor bytes to compare against")
        return Outcome(
            {"device_bytes": float(device_bytes), "weight_expansion_ratio": weights / file_bytes},
            {
                "weight_bytes": weights,
                "file_tensor_bytes": file_bytes,
                "weight_bytes_source": "weight_bytes()" if callable(weight_fn) else "memory_bytes() (upper bound)",
            },
        )
