"""The engine protocol's framing (docs/engine-protocol.md), used by both sides of the pipe.

A message is one line of UTF-8 JSON (an object) ending in "\\n". A response may carry tensors:
its header lists them under "tensors" as {name, dtype, shape} and their raw bytes follow the
line at once, concatenated in that order, C order, little-endian ("f32": float32, "i32": int32).
Requests carry no tensors (their inputs are token ids).

Every read is bounded: a header line longer than max_line bytes is refused, and tensor bytes are
read only after the header's list matched the shapes the reader expects, so a hostile engine
cannot make the harness allocate more than the answer it asked for.
"""

from __future__ import annotations

import json
import math

import numpy as np

PROTOCOL = 1
MAX_LINE = 1 << 20  # bytes of one header line (token ids and timings fit easily)
DTYPES = {"f32": np.dtype("<f4"), "i32": np.dtype("<i4")}


class WireError(ValueError):
    """A message that breaks the framing: not JSON, too long, cut short, wrong tensors."""


def encode(header: dict, arrays: dict | None = None) -> bytes:
    """The bytes of one message: the header line (with its "tensors" list) and the tensor data."""
    header = dict(header)
    blobs = []
    if arrays:
        header["tensors"] = []
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            dtype = "i32" if np.issubdtype(arr.dtype, np.integer) else "f32"
            data = np.ascontiguousarray(arr, dtype=DTYPES[dtype])
            header["tensors"].append({"name": name, "dtype": dtype, "shape": list(data.shape)})
            blobs.append(data.tobytes())
    line = json.dumps(header, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    return line + b"".join(blobs)


def read_header(stream, max_line: int = MAX_LINE) -> dict:
    """One header line from a binary stream as a dict; WireError on EOF, overlong or not JSON."""
    line = stream.readline(max_line + 1)
    if not line:
        raise WireError("end of stream (the other side closed the pipe)")
    if not line.endswith(b"\n"):
        if len(line) > max_line:
            raise WireError(f"header line longer than {max_line} bytes")
        raise WireError(f"stream ended inside a header line: {_show(line)}")
    try:
        header = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"not a JSON line ({exc}): {_show(line)}") from None
    if not isinstance(header, dict):
        raise WireError(f"a header must be a JSON object, got {_show(line)}")
    return header


def read_tensors(stream, header: dict, expect: dict[str, tuple[str, tuple]]) -> dict:
    """The tensors after `header`, which must list exactly `expect` ({name: (dtype, shape)}, in
    that order); each array is checked and returned as float32 / int32."""
    listed = header.get("tensors") or []
    got = [
        (t.get("name"), t.get("dtype"), tuple(t.get("shape") or ())) if isinstance(t, dict) else (None, None, ())
        for t in listed
    ]
    want = [(name, dtype, tuple(shape)) for name, (dtype, shape) in expect.items()]
    if got != want:
        raise WireError(f"tensors {_fmt(got)} where {_fmt(want)} were expected")
    out = {}
    for name, dtype, shape in want:
        nbytes = DTYPES[dtype].itemsize * math.prod(shape)
        data = stream.read(nbytes)
        if data is None or len(data) != nbytes:
            raise WireError(f"tensor {name}: stream ended after {len(data or b'')} of {nbytes} bytes")
        out[name] = (
            np.frombuffer(data, dtype=DTYPES[dtype]).reshape(shape).astype(np.float32 if dtype == "f32" else np.int32)
        )
    return out


def _fmt(items) -> str:
    return "[" + ", ".join(f"{n}:{d}{list(s)}" for n, d, s in items) + "]"


def _show(line: bytes, width: int = 120) -> str:
    text = line[:width].decode("utf-8", "replace").rstrip("\n")
    return repr(text) + ("…" if len(line) > width else "")
