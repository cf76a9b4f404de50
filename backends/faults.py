"""Planted bugs, switchable per backend instance. Only the mutation runner passes any.

Each name is a bug seen upstream (docs/reference.md §6). A backend that
receives a fault it does not implement must raise NotImplementedError naming it, never ignore it.
"""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "rope_theta_10k": "RoPE theta taken as 10000 instead of the file's rope.freq_base",
    "skip_qk_norm": "per-head q/k RMSNorm skipped",
    "head_dim_from_hidden": "head_dim taken as hidden/heads instead of attention.key_length",
    "q6k_as_q4k": "the Q6_K blocks of one tensor (the output head) decoded as Q4_K",
    "no_renormalise": "top-k routing weights not renormalised",
    "softmax_after_topk": "softmax applied to the top-k logits instead of over all experts first",
    "gqa_off_by_one": "query head j uses kv head (j // group + 1) % n_kv",
    "kv_f16": "KV cache rounded to f16",
    "expert_offset": "expert e's bytes sliced at expert e+1's offset (wraps)",
    "wgpu_cpu_fallback": "the wgpu backend silently computes on the CPU reference",
    "reduction_drops_last": "a matvec reduction drops its last partial sum",
}


# Faults planted by wrapping a backend rather than inside it: fault -> (backend it applies to,
# the wrapper's "module:factory"). The factory takes (model, device=, act=, faults=) like a
# backend and receives the other faults.
WRAPPERS: dict[str, tuple[str, str]] = {
    "wgpu_cpu_fallback": ("wgpu", "backends.faults:silent_cpu_fallback"),
}


def check_faults(faults) -> None:
    unknown = sorted(set(faults) - set(FAULTS))
    if unknown:
        raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(FAULTS)}")


def wrapper_for(backend: str, faults) -> str | None:
    """The wrapper factory planting one of `faults` around `backend`, or None."""
    hits = sorted(f for f in faults if f in WRAPPERS and WRAPPERS[f][0] == backend)
    if len(hits) > 1:
        raise NotImplementedError(f"faults {hits} cannot be planted together")
    return WRAPPERS[hits[0]][1] if hits else None


class SilentFallback:
    """A backend that claims `claimed`'s identity and reports its device counters while
    `compute` does the work: the planted fault wgpu_cpu_fallback (a GPU backend that silently
    computes on the CPU). The identity says fallback False on purpose; the counters are never
    faked, so the engine catches it by the device's submit counter staying still."""

    def __init__(self, name: str, identity: dict, counters, compute, op_kernels=None):
        self.name, self._identity, self._counters, self._compute = name, identity, counters, compute
        self._op_kernels = op_kernels

    def op_kernels(self) -> dict:
        """The claimed backend's own op kernels (the fault is in the forward, not in them)."""
        if self._op_kernels is None:
            raise NotImplementedError(f"{self.name}: no op kernels")
        return self._op_kernels

    def identity(self) -> dict:
        return dict(self._identity)

    def counters(self) -> dict:
        return self._counters()

    def memory_bytes(self) -> int:
        return 0  # nothing resident on the device: it never ran there

    def weight_bytes(self) -> int:
        return 0

    def close(self) -> None:
        self._compute.close()

    def __getattr__(self, attr):  # reset, prefill, decode, trace, generate: the CPU's
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._compute, attr)


def silent_cpu_fallback(model, *, device=None, act: str = "fp32", faults=frozenset()):
    """wgpu_cpu_fallback: the wgpu adapter's identity and counters, the CPU reference's results."""
    from backends.cpu.backend import CpuBackend
    from backends.wgpu.backend import check_act, wgpu_identity, wgpu_op_kernels
    from backends.wgpu.device import get_device
    from backends.wgpu.runtime import kernels_for

    check_act(act)
    rest = frozenset(faults) - {"wgpu_cpu_fallback"}
    if rest:
        raise NotImplementedError(f"wgpu_cpu_fallback is planted alone, not with {sorted(rest)}")
    gpu = get_device(device)
    k = kernels_for(gpu)
    return SilentFallback(
        "wgpu", wgpu_identity(gpu, act, faults), k.counters.as_dict, CpuBackend(model, act=act), wgpu_op_kernels(k)
    )
