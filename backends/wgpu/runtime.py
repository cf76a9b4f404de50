"""The wgpu runtime: pipelines, bind groups, buffers, THE dispatch path, readback, GPU counters.

Public API (stable; the forward pass builds on it):

    kernels_for(gpu=None) -> Kernels     the one Kernels object of the process's device
    Kernels.pipeline(files, entry="main", constants=None, layout=None) -> Pipeline
        files: a shader name or tuple of names in shaders/ (without .wgsl), concatenated in
        order (put "common" first to get the shared helpers). constants: WGSL `override` values
        (workgroup size, rows per workgroup, fault switches). layout: tuple of binding kinds in
        binding order ("read" = read-only storage, "rw" = storage, "uniform") for group 0; None
        = "auto". Pipelines with an equal explicit layout share a bind-group layout, so one bind
        group serves all of them. Cached by (files, entry, constants, layout); a WGSL error is
        re-raised as ShaderError with naga's message and the file names.
    Kernels.bind_group(pipeline, buffers) -> GPUBindGroup
        buffers in binding order: a GPUBuffer, or (buffer, offset, size) for a sub-range.
    Kernels.buffer(nbytes, label, uniform=False) -> GPUBuffer (storage|copy_src|copy_dst)
    Kernels.upload(array, label, uniform=False) -> GPUBuffer holding the array's bytes
    Kernels.write(buffer, array, offset=0)   queue.write_buffer (per-token scalars)
    Kernels.batch() -> Batch
        Batch.record(entries, pos0) records (pipeline, bind-group handle, grid) entries into ONE
        compute pass: the one dispatch path (wgpu-native's C functions where present, else the
        public API: COMMANDS); Batch.dispatch(pipeline, bind_group, x, y=1, z=1) records one;
        Batch.copy(src, dst, nbytes, src_offset=0, dst_offset=0) between passes;
        Batch.submit(readback=()) submits once and, when readback lists buffers (or
        (buffer, nbytes) pairs), copies them into the persistent staging buffer in the same
        submission and returns their bytes as a list of np.uint8 arrays.
    Kernels.batch(timed=True, max_passes=64) (device feature timestamp-query): each compute
        pass is bracketed by GPU timestamps; after submit(), Batch.gpu_seconds is the GPU time
        of its passes (None when untimed) and Batch.pass_seconds a list of (label, seconds) per
        pass, read back in the same submission. Batch.new_pass(label) ends the current pass so
        the next dispatch opens a new one labelled `label` (profiling: one pass per kernel).
    Kernels.read(*buffers) -> list[np.ndarray uint8]   one submit, several buffers
    Kernels.shared_buffer(label) -> a 16-byte zero buffer, one per label (unused bindings)
    Kernels.finish()                                    wait until the queue is idle
    Kernels.counters.as_dict() -> {submits, dispatches, pipelines_created,
        bind_groups_created, bytes_uploaded, bytes_read, buffers_created, bytes_allocated}

Every GPU submission of the wgpu backend goes through a Batch (or read), so the counters are the
truth about GPU work: a backend that silently ran on the CPU shows zero submits.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import wgpu

from backends.wgpu.device import GpuDevice, get_device
from shaders import shader_source


def _portable_commands() -> tuple:
    """(handle, set_pipeline, set_bind_group, dispatch, null) through wgpu-py's public API."""
    return (
        lambda obj: obj,
        lambda p, pipe: p.set_pipeline(pipe),
        lambda p, index, bg, n, offsets: p.set_bind_group(index, bg),
        lambda p, x, y, z: p.dispatch_workgroups(x, y, z),
        None,
    )


def _native_commands() -> tuple:
    """The same commands as wgpu-native's C functions on the objects' handles: encoding is
    Python-bound, and these skip wgpu-py's per-call error-capture proxy (docs/perf.md step 3);
    an invalid command still fails the encoder at finish()."""
    from wgpu.backends.wgpu_native._ffi import ffi, lib

    return (
        lambda obj: obj._internal,
        lib.wgpuComputePassEncoderSetPipeline,
        lib.wgpuComputePassEncoderSetBindGroup,
        lib.wgpuComputePassEncoderDispatchWorkgroups,
        ffi.NULL,
    )


try:
    COMMANDS = _native_commands()
except Exception:  # pragma: no cover - another wgpu backend: the public API
    COMMANDS = _portable_commands()

_BUFFER_KINDS = {
    "read": wgpu.BufferBindingType.read_only_storage,
    "rw": wgpu.BufferBindingType.storage,
    "uniform": wgpu.BufferBindingType.uniform,
}
_STORAGE_USAGE = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
_UNIFORM_USAGE = wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST


class ShaderError(RuntimeError):
    """A WGSL module failed to compile or a pipeline failed to build; names the files."""


@dataclass
class Counters:
    submits: int = 0
    dispatches: int = 0
    pipelines_created: int = 0
    bind_groups_created: int = 0
    bytes_uploaded: int = 0
    bytes_read: int = 0
    buffers_created: int = 0
    bytes_allocated: int = 0
    weight_bytes: int = 0  # of bytes_allocated: model weights (memory falsifier)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Pipeline:
    pipeline: object
    bind_layout: object
    key: tuple
    handle: object = None  # what COMMANDS take: the native handle, or the pipeline itself


def _aligned(n: int, a: int = 4) -> int:
    return (n + a - 1) // a * a


class Kernels:
    """Pipeline cache, buffer helpers and counters of one device (use kernels_for)."""

    def __init__(self, gpu: GpuDevice):
        self.gpu = gpu
        self.device = gpu.device
        self.info = gpu.info
        self.counters = Counters()
        self._pipelines: dict[tuple, Pipeline] = {}
        self._layouts: dict[tuple, tuple] = {}
        self._staging = None
        self._shared: dict[str, object] = {}
        # bytes a whole-buffer readback returns, per buffer (sizes are rounded up to 16)
        self._requested: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    # -- pipelines ---------------------------------------------------------------------------
    def pipeline(
        self, files, entry: str = "main", constants: dict | None = None, layout: Sequence[str] | None = None
    ) -> Pipeline:
        files = (files,) if isinstance(files, str) else tuple(files)
        consts = tuple(sorted((constants or {}).items()))
        key = (files, entry, consts, tuple(layout) if layout else None)
        hit = self._pipelines.get(key)
        if hit is None:
            hit = self._pipelines[key] = self._build(key)
        return hit

    def _build(self, key: tuple) -> Pipeline:
        files, entry, consts, layout = key
        names = " + ".join(f"shaders/{f}.wgsl" for f in files)
        code = "\n".join(shader_source(f) for f in files)
        try:
            module = self.device.create_shader_module(label=names, code=code)
            bind_layout, pipe_layout = self._explicit_layout(layout) if layout else (None, "auto")
            stage = {"module": module, "entry_point": entry}
            if consts:
                stage["constants"] = {k: float(v) for k, v in consts}
            pipeline = self.device.create_compute_pipeline(label=f"{names}:{entry}", layout=pipe_layout, compute=stage)
        except wgpu.GPUError as exc:
            raise ShaderError(f"{names} (entry {entry}, constants {dict(consts)}): {exc}") from exc
        if bind_layout is None:
            bind_layout = pipeline.get_bind_group_layout(0)
        self.counters.pipelines_created += 1
        return Pipeline(pipeline=pipeline, bind_layout=bind_layout, key=key, handle=COMMANDS[0](pipeline))

    def _explicit_layout(self, kinds: tuple) -> tuple:
        if kinds not in self._layouts:
            unknown = [k for k in kinds if k not in _BUFFER_KINDS]
            if unknown:
                raise ValueError(f"binding kinds {unknown} unknown; known: {list(_BUFFER_KINDS)}")
            entries = [
                {"binding": i, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": _BUFFER_KINDS[k]}}
                for i, k in enumerate(kinds)
            ]
            bgl = self.device.create_bind_group_layout(entries=entries)
            self._layouts[kinds] = (bgl, self.device.create_pipeline_layout(bind_group_layouts=[bgl]))
        return self._layouts[kinds]

    def bind_group(self, pipeline: Pipeline, buffers: Sequence) -> object:
        entries = []
        for i, item in enumerate(buffers):
            buf, off, size = item if isinstance(item, tuple) else (item, 0, item.size)
            entries.append({"binding": i, "resource": {"buffer": buf, "offset": off, "size": size}})
        self.counters.bind_groups_created += 1
        return self.device.create_bind_group(layout=pipeline.bind_layout, entries=entries)

    # -- buffers -----------------------------------------------------------------------------
    def buffer(self, nbytes: int, label: str = "", uniform: bool = False):
        # 16-byte multiples: kernels read f32 arrays as vec4s (mul_mat_vec.wgsl's X)
        size = max(_aligned(int(nbytes), 16), 16)
        self.counters.buffers_created += 1
        self.counters.bytes_allocated += size
        buf = self.device.create_buffer(label=label, size=size, usage=_UNIFORM_USAGE if uniform else _STORAGE_USAGE)
        self._requested[buf] = int(nbytes)
        return buf

    def requested_nbytes(self, buffer) -> int:
        """The bytes asked for when `buffer` was made (its size for a foreign buffer)."""
        return self._requested.get(buffer, buffer.size)

    def shared_buffer(self, label: str):
        """A 16-byte zero buffer, one per label for the device's lifetime (bindings a kernel
        variant leaves unused, the fence)."""
        if label not in self._shared:
            self._shared[label] = self.upload(np.zeros(4, np.uint32), label=label)
        return self._shared[label]

    def upload(self, array, label: str = "", uniform: bool = False, weight: bool = False):
        data = np.ascontiguousarray(array)
        buf = self.buffer(data.nbytes, label=label, uniform=uniform)
        if weight:
            self.counters.weight_bytes += buf.size
        self.write(buf, data)
        return buf

    def write(self, buffer, array, offset: int = 0) -> None:
        data = np.ascontiguousarray(array).view(np.uint8).reshape(-1)
        if data.nbytes % 4:  # write_buffer wants a multiple of 4 bytes
            data = np.concatenate([data, np.zeros(4 - data.nbytes % 4, np.uint8)])
        self.device.queue.write_buffer(buffer, offset, data)
        self.counters.bytes_uploaded += data.nbytes

    # -- submission and readback -------------------------------------------------------------
    def batch(self, timed: bool = False, max_passes: int = 64) -> "Batch":
        if timed and not self.info.has_timestamps:
            raise RuntimeError("timed batch: the device lacks the timestamp-query feature")
        return Batch(self, timed, max_passes)

    def read(self, *buffers) -> list[np.ndarray]:
        """Bytes of several buffers (or (buffer, nbytes) pairs) after one submission."""
        return self.batch().submit(readback=buffers)

    def finish(self) -> None:
        """Wait until the queue is idle: a 4-byte readback after everything submitted (wgpu-py
        0.32's on_submitted_work_done_sync fails on a callback signature mismatch)."""
        self.read((self.shared_buffer("fence"), 4))

    def staging(self, nbytes: int):
        """The persistent MAP_READ staging buffer, grown (never shrunk) to hold nbytes."""
        if self._staging is None or self._staging.size < nbytes:
            size = max(_aligned(nbytes, 1 << 16), 1 << 16)
            self._staging = self.device.create_buffer(
                label="staging", size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
            )
        return self._staging


MAX_QUERIES = 4096  # WebGPU's largest query set: 2 timestamps per pass


class Batch:
    """Dispatches recorded into one compute pass and submitted once (see module docstring)."""

    def __init__(self, kernels: Kernels, timed: bool = False, max_passes: int = 64):
        if timed and not 1 <= 2 * max_passes <= MAX_QUERIES:
            raise ValueError(f"timed batch: max_passes {max_passes} not in 1..{MAX_QUERIES // 2}")
        self.k = kernels
        self.encoder = kernels.device.create_command_encoder()
        self._pass = None
        self._handle = None
        self._pipeline = None
        self._max_passes = max_passes
        self._labels: list[str] = []
        self._label = ""
        self._queries = (
            kernels.device.create_query_set(type=wgpu.QueryType.timestamp, count=2 * max_passes) if timed else None
        )
        self.gpu_seconds = None
        self.pass_seconds: list[tuple[str, float]] = []
        self._dispatches = 0  # counted into the device counters when submitted (a batch
        # encoded ahead and dropped never ran)

    def new_pass(self, label: str = "") -> None:
        """End the current compute pass; the next dispatch opens one labelled `label`."""
        self._end_pass()
        self._label = label

    def _begin_pass(self):
        if self._queries is None:
            return self.encoder.begin_compute_pass()
        i = len(self._labels)
        if i >= self._max_passes:
            raise RuntimeError(f"timed batch: more than {self._max_passes} compute passes")
        self._labels.append(self._label)
        return self.encoder.begin_compute_pass(
            timestamp_writes={
                "query_set": self._queries,
                "beginning_of_pass_write_index": 2 * i,
                "end_of_pass_write_index": 2 * i + 1,
            }
        )

    def dispatch(self, pipeline: Pipeline, bind_group, x: int, y: int = 1, z: int = 1) -> None:
        """One dispatch: record() of one entry."""
        self.record(((pipeline, COMMANDS[0](bind_group), (int(x), int(y), int(z))),), 0)

    def record(self, entries, pos0: int) -> None:
        """THE dispatch path: every dispatch of the backend is recorded here. entries:
        (Pipeline, bind-group handle (COMMANDS[0] of the bind group), grid), grid (x, y, z) or
        a callable pos0 -> (x, y, z) (a position-dependent grid, declared by its op)."""
        _, set_pipe, set_bg, dispatch, null = COMMANDS
        n = 0
        for pipe, bg, grid in entries:
            if self._pass is None:
                self._pass = self._begin_pass()
                self._handle = COMMANDS[0](self._pass)
                self._pipeline = None
            handle = self._handle
            if pipe is not self._pipeline:  # skip redundant state
                set_pipe(handle, pipe.handle)
                self._pipeline = pipe
            x, y, z = grid(pos0) if callable(grid) else grid
            set_bg(handle, 0, bg, 0, null)
            dispatch(handle, x, y, z)
            n += 1
        self._dispatches += n

    def _end_pass(self) -> None:
        if self._pass is not None:
            self._pass.end()
            self._pass = None

    def copy(self, src, dst, nbytes: int, src_offset: int = 0, dst_offset: int = 0) -> None:
        self._end_pass()
        self.encoder.copy_buffer_to_buffer(src, src_offset, dst, dst_offset, _aligned(nbytes))

    def _resolve_timestamps(self) -> tuple | None:
        n = len(self._labels)
        if not n:
            return None
        buf = self.k.device.create_buffer(size=16 * n, usage=wgpu.BufferUsage.QUERY_RESOLVE | wgpu.BufferUsage.COPY_SRC)
        self.encoder.resolve_query_set(self._queries, 0, 2 * n, buf, 0)
        return buf, 16 * n

    def submit(self, readback: Sequence = (), before_wait=None) -> list[np.ndarray]:
        """Submit once; read back `readback` (see module docstring). before_wait: called after
        the submission and before waiting for the readback (CPU work that overlaps the GPU,
        e.g. encoding the next step)."""
        self._end_pass()
        stamps = self._resolve_timestamps()
        if stamps:
            readback = list(readback) + [stamps]
        out = self._submit(readback, before_wait)
        if stamps:
            ns = out.pop().view(np.uint64).reshape(-1, 2).astype(np.int64)
            spans = (ns[:, 1] - ns[:, 0]) * 1e-9  # WebGPU timestamps are nanoseconds
            self.pass_seconds = list(zip(self._labels, spans.tolist()))
            self.gpu_seconds = float(np.sum(spans))
        return out

    def _submit(self, readback: Sequence, before_wait=None) -> list[np.ndarray]:
        spans, total = [], 0
        for item in readback:
            buf, nbytes = item if isinstance(item, tuple) else (item, self.k.requested_nbytes(item))
            spans.append((buf, total, int(nbytes)))
            total += _aligned(int(nbytes), 256)
        staging = self.k.staging(total) if spans else None
        for buf, off, nbytes in spans:
            self.encoder.copy_buffer_to_buffer(buf, 0, staging, off, _aligned(nbytes))
        self.k.device.queue.submit([self.encoder.finish()])
        self.k.counters.submits += 1
        self.k.counters.dispatches += self._dispatches
        if before_wait is not None:
            before_wait()
        if not spans:
            return []
        staging.map_sync(wgpu.MapMode.READ, 0, total)
        try:
            out = [np.frombuffer(staging.read_mapped(off, _aligned(n)), np.uint8)[:n].copy() for _, off, n in spans]
        finally:
            staging.unmap()
        self.k.counters.bytes_read += sum(n for _, _, n in spans)
        return out


_KERNELS: dict[int, Kernels] = {}


def kernels_for(gpu: GpuDevice | None = None) -> Kernels:
    """The Kernels object of `gpu` (default: the process's device), created once."""
    gpu = gpu or get_device()
    if id(gpu.device) not in _KERNELS:
        _KERNELS[id(gpu.device)] = Kernels(gpu)
    return _KERNELS[id(gpu.device)]
