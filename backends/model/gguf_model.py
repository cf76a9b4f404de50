"""A qwen3moe GGUF file, memory-mapped and validated at open (docs/reference.md §2).

`open_model(path)` parses the header with gguf-py's GGUFReader, checks the file (architecture,
metadata keys, tensor types, row lengths, data ranges, shapes against the config) and exposes
tensors as raw uint8 block views. Nothing is expanded to float32 until `rows()` asks for
specific rows, so a 17 GB model opens in milliseconds and stays on disk.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType

from backends.model import quants
from backends.model.config import ModelConfig, config_from_metadata
from backends.model.errors import ModelFormatError, UnsupportedQuantType
from backends.model.tokenizer import check_kind as check_tokenizer_kind


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: upstream type name, numpy-order shape, row length, bytes, absolute offset."""

    name: str
    qtype: str
    shape: tuple[int, ...]
    n_cols: int
    nbytes: int
    offset: int

    @property
    def row_bytes(self) -> int:
        return self.nbytes // max(1, int(np.prod(self.shape[:-1], dtype=np.int64)))


class _HeaderReader(GGUFReader):
    """GGUFReader that stops after the tensor infos, with fast paths for big arrays.

    The stock reader builds a data view per tensor and fails with a bare numpy error on a
    truncated file or an odd row length; we keep the raw infos and check them ourselves so the
    error can name the tensor. It also spends ~10 s on a 151,936-token vocabulary (several
    memmap views per array element). Here a numeric array is one part holding every value,
    and a string array is one uint8 part spanning its encoded bytes, decoded on request by
    `_field_value` (this reader is private: nothing else reads its fields).
    """

    def _build_tensors(self, start_offs: int, fields: list) -> None:
        self.tensor_fields = fields

    def _get_field_parts(self, orig_offs: int, raw_type: int):
        if raw_type != GGUFValueType.ARRAY or self.byte_order != "I":
            return super()._get_field_parts(orig_offs, raw_type)
        item_type = self._get(orig_offs, np.uint32)
        count = self._get(orig_offs + 4, np.uint64)
        sub_type = GGUFValueType(int(item_type[0]))
        scalar = self.gguf_scalar_to_np.get(sub_type)
        if scalar is not None:
            values = self._get(orig_offs + 12, scalar, int(count[0]))
            size = 12 + int(values.nbytes)
        elif sub_type == GGUFValueType.STRING:
            size = 12 + _string_array_size(self.data, orig_offs + 12, int(count[0]))
            values = self.data[orig_offs + 12 : orig_offs + size]
        else:
            return super()._get_field_parts(orig_offs, raw_type)
        return size, [item_type, count, values], [2], [GGUFValueType.ARRAY, sub_type]


def _string_array_size(data: np.ndarray, start: int, count: int) -> int:
    """Bytes taken by `count` GGUF strings (u64 length + bytes each) starting at `start`."""
    raw, offs, end = memoryview(np.asarray(data)), start, data.shape[0]
    for _ in range(count):  # a hostile count (2**63) stops at the end of the file, not later
        offs += 8 + int.from_bytes(raw[offs : offs + 8], "little")
        if offs > end:
            raise ValueError(f"string array at offset {start} runs past the end of the file")
    return offs - start


def _decode_strings(blob: np.ndarray) -> list[str]:
    raw, offs, out = memoryview(np.asarray(blob)), 0, []
    while offs < len(raw):
        length = int.from_bytes(raw[offs : offs + 8], "little")
        out.append(bytes(raw[offs + 8 : offs + 8 + length]).decode("utf-8"))
        offs += 8 + length
    return out


class GGUFModel:
    """An opened, validated qwen3moe GGUF file. Use `open_model` to build one."""

    def __init__(self, path: Path, reader: _HeaderReader, tensors: dict[str, TensorInfo], config: ModelConfig):
        self.path = path
        self.config = config
        self.tensors = tensors
        self._data = reader.data  # uint8 memmap of the whole file
        self._metadata = reader.fields
        self._sha256: str | None = None

    def metadata(self, key: str) -> Any:
        """A metadata value (None when absent)."""
        return _field_value(self._metadata, key)

    def sha256(self) -> str:
        """Hex sha256 of the file bytes, computed once (chunked, never the whole file in RAM)."""
        if self._sha256 is None:
            digest = hashlib.sha256()
            with open(self.path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 24), b""):
                    digest.update(chunk)
            self._sha256 = digest.hexdigest()
        return self._sha256

    def raw(self, name: str) -> np.ndarray:
        """uint8 view of a tensor's blocks: (rows, row_bytes), (E, rows, row_bytes) or (1, row_bytes)."""
        info = self._info(name)
        lead = info.shape[:-1] or (1,)
        view = self._data[info.offset : info.offset + info.nbytes]
        return view.reshape(*lead, info.row_bytes)

    def expert_raw(self, name: str, e: int) -> np.ndarray:
        """uint8 (rows, row_bytes) blocks of expert e of a 3-D expert tensor."""
        raw = self.raw(name)
        if raw.ndim != 3:
            raise ValueError(f"{name}: not an expert tensor (shape {self.tensors[name].shape})")
        if not 0 <= e < raw.shape[0]:
            raise IndexError(f"{name}: expert {e} out of range [0, {raw.shape[0]})")
        return raw[e]

    def rows(self, name: str, r0: int, r1: int, expert: int | None = None) -> np.ndarray:
        """float32 (r1 - r0, n_cols): rows r0..r1-1 (of expert `expert` for 3-D tensors) decoded."""
        raw = self.expert_raw(name, expert) if expert is not None else self.raw(name)
        if raw.ndim != 2:
            raise ValueError(f"{name}: 3-D expert tensor needs expert=")
        if not 0 <= r0 <= r1 <= raw.shape[0]:
            raise IndexError(f"{name}: rows [{r0}, {r1}) out of range [0, {raw.shape[0]}]")
        return quants.dequantize(self.tensors[name].qtype, np.asarray(raw[r0:r1]))

    def inventory(self) -> list[dict[str, Any]]:
        """name / qtype / shape / nbytes of every tensor, in file order (for reports)."""
        return [
            {"name": t.name, "qtype": t.qtype, "shape": list(t.shape), "nbytes": t.nbytes}
            for t in self.tensors.values()
        ]

    def _info(self, name: str) -> TensorInfo:
        if name not in self.tensors:
            raise KeyError(f"{self.path.name}: no tensor named {name!r}")
        return self.tensors[name]

    def __repr__(self) -> str:
        return f"GGUFModel({str(self.path)!r}, {len(self.tensors)} tensors)"


def open_model(path: str | Path) -> GGUFModel:
    """Open and validate a qwen3moe GGUF file (memory-mapped). Raises ModelFormatError /
    UnsupportedQuantType with the file and the tensor or key at fault."""
    path = Path(path)
    source = path.name
    try:
        reader = _HeaderReader(path)
    except OSError:  # missing file, permissions: not a format problem
        raise
    except Exception as exc:  # gguf-py raises ValueError/IndexError/struct errors on bad bytes
        raise ModelFormatError(f"{path}: not a readable GGUF file ({type(exc).__name__}: {exc})") from exc
    arch = _field_value(reader.fields, "general.architecture")
    if arch is None:
        raise ModelFormatError(f"{source}: missing required metadata key general.architecture")
    if arch != "qwen3moe":
        raise ModelFormatError(f"{source}: architecture {arch!r} is not supported (expected 'qwen3moe')")
    check_tokenizer_kind(lambda key: _field_value(reader.fields, key), source)
    tensors = _tensor_infos(reader, source)
    config = config_from_metadata(
        lambda key: _field_value(reader.fields, key), {t.name: t.shape for t in tensors.values()}, source
    )
    _check_shapes(tensors, config, source)
    return GGUFModel(path, reader, tensors, config)


def _field_value(fields, key: str) -> Any:
    field = fields.get(key)
    if field is None:
        return None
    if field.types == [GGUFValueType.ARRAY, GGUFValueType.STRING]:
        return _decode_strings(field.parts[-1])
    if field.types[:1] == [GGUFValueType.ARRAY]:
        return field.parts[-1].tolist()
    return field.contents()


def _tensor_infos(reader: _HeaderReader, source: str) -> dict[str, TensorInfo]:
    file_size = int(reader.data.shape[0])
    alignment = _alignment(reader, source)
    infos: dict[str, TensorInfo] = {}
    for field in reader.tensor_fields:
        info = _tensor_info(field, int(reader.data_offset), source)
        end = info.offset + info.nbytes
        if end > file_size:
            raise ModelFormatError(
                f"{source}: truncated: {info.name} data [{info.offset}, {end}) runs past the end "
                f"of the file ({file_size} bytes)"
            )
        if (info.offset - int(reader.data_offset)) % alignment:
            raise ModelFormatError(
                f"{source}: {info.name}: data offset "
                f"{info.offset - int(reader.data_offset)} is not a multiple of "
                f"the file's alignment {alignment}"
            )
        if info.name in infos:
            raise ModelFormatError(f"{source}: tensor {info.name} is listed twice")
        infos[info.name] = info
    _check_disjoint(infos.values(), source)
    return infos


def _alignment(reader: _HeaderReader, source: str) -> int:
    """general.alignment (GGUF default 32); it must be a positive power of two."""
    value = _field_value(reader.fields, "general.alignment")
    alignment = 32 if value is None else value
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ModelFormatError(f"{source}: general.alignment {value!r} is not a power of two")
    return alignment


def _check_disjoint(infos, source: str) -> None:
    """Two tensors whose data ranges overlap would read each other's bytes: refuse, naming both
    (a type changed so that a tensor overruns its neighbour ends up here too)."""
    ordered = sorted(infos, key=lambda t: (t.offset, t.offset + t.nbytes))
    for before, after in zip(ordered, ordered[1:]):
        if after.offset < before.offset + before.nbytes:
            raise ModelFormatError(
                f"{source}: tensors {before.name} [{before.offset}, {before.offset + before.nbytes}) "
                f"and {after.name} [{after.offset}, {after.offset + after.nbytes}) overlap"
            )


def _tensor_info(field, data_offset: int, source: str) -> TensorInfo:
    _, name_bytes, _, dims, raw_type, rel_offset = field.parts
    name = bytes(name_bytes).decode("utf-8")
    qtype = _type_name(int(raw_type[0]))
    if qtype not in quants.SUPPORTED:
        raise UnsupportedQuantType(
            f"{source}: {name}: type {qtype} is not supported (supported: {', '.join(quants.SUPPORTED)})"
        )
    shape = tuple(int(d) for d in reversed(dims.tolist()))
    if not shape:
        raise ModelFormatError(f"{source}: {name}: tensor has no dimensions")
    n_cols = shape[-1]
    block, type_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[qtype]]
    if n_cols % block:
        raise ModelFormatError(
            f"{source}: {name}: row length {n_cols} is not a multiple of the {qtype} block size {block}"
        )
    n_rows = math.prod(shape[:-1])  # Python ints: hostile dims cannot wrap around
    nbytes = n_rows * (n_cols // block) * type_bytes
    return TensorInfo(name, qtype, shape, n_cols, nbytes, data_offset + int(rel_offset[0]))


def _type_name(raw: int) -> str:
    try:
        return GGMLQuantizationType(raw).name
    except ValueError:
        return f"<unknown GGML type id {raw}>"


def _check_shapes(tensors: dict[str, TensorInfo], config: ModelConfig, source: str) -> None:
    for name, expected in config.expected_shapes().items():
        if name not in tensors:
            raise ModelFormatError(f"{source}: missing tensor {name}")
        got = tensors[name].shape
        if got != expected:
            raise ModelFormatError(f"{source}: {name}: shape {got} does not match the config (expected {expected})")
