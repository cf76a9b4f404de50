"""The wgpu device layer: adapter discovery, selector matching, one device per process.

Public API (stable; the forward pass and the engine build on it):

    list_adapters() -> list[dict]
        Every adapter wgpu can see, as identity dicts with keys name, vendor_id, device_id,
        backend_type, adapter_type, driver, description. Returns [] (never raises) when wgpu or
        a driver (Vulkan, Metal, ...) is missing.
    match_selector(info, selector) -> bool
        selector: dict with optional vendor_id (int), backend_type ("Vulkan", "Metal", "D3D12",
        "OpenGL"), adapter_type ("DiscreteGPU", "IntegratedGPU", "CPU"), name_pattern (regex,
        searched in the adapter name). Every key given must match; None / {} matches anything.
    get_device(selector=None) -> GpuDevice
        The process's one device (cached). The first call picks the adapter (the first match,
        Vulkan preferred; no selector: wgpu's high-performance choice) and requests its largest
        storage-binding / buffer sizes and the features shader-f16, subgroup, timestamp-query
        where present. A later call whose selector the cached adapter does not match raises
        BackendUnavailable: wgpu devices leak, so a process never holds two.
    GpuDevice: .device (wgpu.GPUDevice), .queue, .info (DeviceInfo)
    DeviceInfo: .identity (dict: backend "wgpu", adapter, vendor_id, device_id, backend_type,
        adapter_type, driver, is_cpu), .features (frozenset), .limits (dict),
        .has_subgroup, .has_f16, .has_timestamps, .max_binding (bytes), .max_buffer (bytes)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backends.api import BackendUnavailable

try:  # wgpu itself may be absent on a bare machine: that is "no adapters", not a crash
    import wgpu
except Exception:  # pragma: no cover - depends on the machine
    wgpu = None

# Features used when the adapter offers them; every kernel keeps a path without them.
OPTIONAL_FEATURES = ("shader-f16", "subgroup", "timestamp-query")
# Limits raised to the adapter's maximum (defaults are 128 MiB / 256 MiB).
RAISED_LIMITS = (
    "max-storage-buffer-binding-size",
    "max-buffer-size",
    "max-storage-buffers-per-shader-stage",
    "max-compute-workgroup-storage-size",
    "max-compute-invocations-per-workgroup",
    "max-compute-workgroup-size-x",
)
# Tried first when a selector leaves the backend open (Vulkan is what CI and NVIDIA run).
_BACKEND_ORDER = {"Vulkan": 0, "Metal": 1, "D3D12": 2, "OpenGL": 3}


@dataclass(frozen=True)
class DeviceInfo:
    """What the device is and what it can do."""

    identity: dict
    features: frozenset = field(default_factory=frozenset)
    limits: dict = field(default_factory=dict)
    subgroup_sizes: tuple = (0, 0)  # (min, max) lanes per subgroup; (0, 0) when not reported

    @property
    def has_subgroup(self) -> bool:
        return "subgroup" in self.features

    @property
    def has_f16(self) -> bool:
        return "shader-f16" in self.features

    @property
    def has_timestamps(self) -> bool:
        return "timestamp-query" in self.features

    @property
    def max_binding(self) -> int:
        return int(self.limits["max-storage-buffer-binding-size"])

    @property
    def max_buffer(self) -> int:
        return int(self.limits["max-buffer-size"])


@dataclass(frozen=True)
class GpuDevice:
    device: object
    adapter: object
    info: DeviceInfo

    @property
    def queue(self):
        return self.device.queue


def adapter_identity(adapter) -> dict:
    """The identity dict of one wgpu adapter (see module docstring)."""
    info = adapter.info
    name = info.get("device") or info.get("vendor") or "unknown"
    return {
        "name": name,
        "vendor_id": int(info.get("vendor_id", 0)),
        "device_id": int(info.get("device_id", 0)),
        "backend_type": str(info.get("backend_type", "")),
        "adapter_type": str(info.get("adapter_type", "")),
        "driver": str(info.get("description", "")),
        "description": str(info.get("description", "")),
    }


def _enumerate() -> list:
    if wgpu is None:
        return []
    try:
        return list(wgpu.gpu.enumerate_adapters_sync())
    except Exception:  # no driver / loader: report nothing rather than crash discovery
        return []


def list_adapters() -> list[dict]:
    """Identity dicts of every adapter wgpu sees; [] when there is none or no driver."""
    return [adapter_identity(a) for a in _enumerate()]


_SELECTOR_KEYS = ("vendor_id", "backend_type", "adapter_type", "name_pattern")


def match_selector(info: dict, selector: dict | None) -> bool:
    """True when every key given in `selector` matches the adapter identity `info`."""
    if not selector:
        return True
    unknown = sorted(set(selector) - set(_SELECTOR_KEYS))
    if unknown:
        raise ValueError(f"device selector: unknown key(s) {unknown}; known: {list(_SELECTOR_KEYS)}")
    if "vendor_id" in selector and int(selector["vendor_id"]) != int(info.get("vendor_id", -1)):
        return False
    for key in ("backend_type", "adapter_type"):
        if key in selector and str(selector[key]).lower() != str(info.get(key, "")).lower():
            return False
    pattern = selector.get("name_pattern")
    return pattern is None or re.search(pattern, str(info.get("name", ""))) is not None


_CACHED: GpuDevice | None = None


def _pick_adapter(selector: dict | None):
    adapters = _enumerate()
    if not adapters:
        raise BackendUnavailable("wgpu: no adapter found (no Vulkan/Metal/D3D12/GL driver?)")
    if not selector:
        try:
            return wgpu.gpu.request_adapter_sync(power_preference="high-performance")
        except Exception:
            pass
    hits = [a for a in adapters if match_selector(adapter_identity(a), selector)]
    if not hits:
        seen = "; ".join(_describe(adapter_identity(a)) for a in adapters)
        raise BackendUnavailable(f"wgpu: no adapter matches selector {selector}; present: {seen}")
    return min(hits, key=lambda a: _BACKEND_ORDER.get(adapter_identity(a)["backend_type"], 9))


def _describe(ident: dict) -> str:
    return f"{ident['name']} (vendor 0x{ident['vendor_id']:x}, {ident['backend_type']}, {ident['adapter_type']})"


def _open(adapter) -> GpuDevice:
    features = [f for f in OPTIONAL_FEATURES if f in adapter.features]
    limits = {k: adapter.limits[k] for k in RAISED_LIMITS if k in adapter.limits}
    device = adapter.request_device_sync(required_features=features, required_limits=limits)
    ident = adapter_identity(adapter)
    identity = {
        "backend": "wgpu",
        "adapter": ident["name"],
        "vendor_id": ident["vendor_id"],
        "device_id": ident["device_id"],
        "backend_type": ident["backend_type"],
        "adapter_type": ident["adapter_type"],
        "driver": ident["driver"],
        "is_cpu": ident["adapter_type"] == "CPU",
    }
    info = DeviceInfo(
        identity=identity,
        features=frozenset(device.features),
        limits=dict(device.limits),
        subgroup_sizes=_subgroup_sizes(adapter),
    )
    return GpuDevice(device=device, adapter=adapter, info=info)


def _subgroup_sizes(adapter) -> tuple[int, int]:
    info = adapter.info  # wgpu-py 0.32 spells the keys "stackgroup_*"; later ones "subgroup_*"
    lo = info.get("subgroup_min_size", info.get("stackgroup_min_size", 0))
    hi = info.get("subgroup_max_size", info.get("stackgroup_max_size", 0))
    return int(lo or 0), int(hi or 0)


def get_device(selector: dict | None = None) -> GpuDevice:
    """The process's one wgpu device, opened on first use (see module docstring)."""
    global _CACHED
    if _CACHED is not None:
        if not match_selector(_adapter_view(_CACHED), selector):
            raise BackendUnavailable(
                f"wgpu: this process already holds a device on "
                f"{_describe(_adapter_view(_CACHED))}, which does not match selector {selector}; "
                "one device per process (run another process for another adapter)"
            )
        return _CACHED
    _CACHED = _open(_pick_adapter(selector))
    return _CACHED


def _adapter_view(gpu: GpuDevice) -> dict:
    ident = gpu.info.identity
    return {
        "name": ident["adapter"],
        "vendor_id": ident["vendor_id"],
        "backend_type": ident["backend_type"],
        "adapter_type": ident["adapter_type"],
    }
