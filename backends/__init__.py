"""Backends: the GGUF model layer, quant codecs, the CPU reference and the wgpu implementation,
and engines outside this repository behind the engine protocol (external, llama-cpp).

Every backend exposes the same small API (backends.api.Backend) and is opened through
`open_backend`, the one registry the engine uses.
"""

from __future__ import annotations

import importlib

from backends.api import Backend, BackendUnavailable, Trace  # noqa: F401
from backends.faults import FAULTS, check_faults, wrapper_for  # noqa: F401

# name -> "module:factory"; the factory signature is factory(model, *, device, act, faults);
# the engine backends also take engine= (the cell's engine mapping).
_REGISTRY = {
    "cpu": "backends.cpu.backend:CpuBackend",
    "wgpu": "backends.wgpu.backend:WgpuBackend",
    "null": "backends.null_backend:NullBackend",
    "f64": "backends.f64.backend:F64Backend",
    "external": "backends.external.backend:ExternalBackend",
    "llama-cpp": "backends.llamacpp.backend:LlamaCppBackend",
}
ENGINE_BACKENDS = ("external", "llama-cpp")  # opened with the cell's engine mapping

# name -> the module that sees its devices (list_adapters(), match_selector(info, selector));
# only backends that run on a device have one.
_DEVICES = {"wgpu": "backends.wgpu.device"}


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def list_adapters(name: str) -> list[dict]:
    """The adapters backend `name` can see here, as identity dicts; [] for a backend that has
    no devices (it always runs) or when the machine has no driver."""
    if name not in _DEVICES:
        return []
    return importlib.import_module(_DEVICES[name]).list_adapters()


def match_selector(name: str, info: dict, selector: dict | None) -> bool:
    """Whether adapter `info` of backend `name` satisfies a device-matrix selector (an unknown
    selector key raises ValueError naming it)."""
    if name not in _DEVICES:
        raise ValueError(f"backend {name!r} has no devices to select; with devices: {', '.join(sorted(_DEVICES))}")
    return importlib.import_module(_DEVICES[name]).match_selector(info, selector)


def open_backend(
    name: str,
    model,
    *,
    device: dict | None = None,
    act: str = "fp32",
    faults: frozenset[str] = frozenset(),
    engine: dict | None = None,
) -> Backend:
    """Open backend `name` on an opened GGUF model.

    device: a device-matrix selector (wgpu and the engine backends; see
    backends.wgpu.device.match_selector). engine: an engine cell's engine mapping (command,
    timeouts, options; docs/engine-protocol.md), for ENGINE_BACKENDS only.
    act: activation path, "fp32" (default) or "q8k" (CPU reference only).
    faults: planted bugs (backends.faults); only the mutation runner passes any.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(backend_names())}")
    check_faults(faults)
    # a fault planted around the backend (backends.faults.WRAPPERS) replaces it
    module_name, factory = (wrapper_for(name, faults) or _REGISTRY[name]).split(":")
    module = importlib.import_module(module_name)
    extra = {"engine": engine} if name in ENGINE_BACKENDS else {}
    return getattr(module, factory)(model, device=device, act=act, faults=frozenset(faults), **extra)


def engine_missing(name: str, engine: dict | None) -> str:
    """Why an engine backend's cell cannot run here (its command or library is missing), or ""
    when it may: the engine itself is asked for its identity only when the cell runs."""
    module_name = _REGISTRY[name].split(":")[0]
    return importlib.import_module(module_name).missing(engine or {})
