"""Issue 16 item 5: tensor data ranges that overlap, alias each other or sit off the file's
alignment are refused at load, naming the tensors; a type edited so that a tensor overruns its
neighbour is refused the same way instead of yielding NaN logits."""

from __future__ import annotations

import struct

import gguf
import pytest

from backends.model.errors import ModelFormatError
from backends.model.gguf_model import open_model
from tests.test_gguf_model import write_variant


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_variant(tmp_path_factory.mktemp("integrity") / "mini.gguf")


def _tensor_fields(path):
    """[(name, file position of its type u32, of its offset u64, offset, type)] in file order."""
    reader = gguf.GGUFReader(path)
    base = reader.data.ctypes.data
    out = []
    for t in reader.tensors:
        parts = t.field.parts
        out.append(
            (t.name, parts[4].ctypes.data - base, parts[5].ctypes.data - base, int(parts[5][0]), int(parts[4][0]))
        )
    return out


def _patched(tmp_path, src, edits):
    data = bytearray(src.read_bytes())
    for pos, fmt, value in edits:
        struct.pack_into(fmt, data, pos, value)
    out = tmp_path / "patched.gguf"
    out.write_bytes(bytes(data))
    return out


def test_aliasing_tensors_are_refused_naming_both(tmp_path, mini):
    fields = _tensor_fields(mini)
    (a, _, _, a_off, _), (b, _, b_pos, _, _) = fields[0], fields[1]
    bad = _patched(tmp_path, mini, [(b_pos, "<Q", a_off)])  # b now reads a's bytes
    with pytest.raises(ModelFormatError, match="overlap") as exc:
        open_model(bad)
    assert a in str(exc.value) and b in str(exc.value)


def test_misaligned_offset_is_refused_naming_the_tensor(tmp_path, mini):
    name, _, pos, off, _ = _tensor_fields(mini)[0]
    bad = _patched(tmp_path, mini, [(pos, "<Q", off + 4)])
    with pytest.raises(ModelFormatError, match=f"{name}: data offset .* alignment 32"):
        open_model(bad)


def test_type_edited_to_overrun_its_neighbour_is_refused(tmp_path, mini):
    fields = _tensor_fields(mini)
    q4k = int(gguf.GGMLQuantizationType.Q4_K)
    q8 = int(gguf.GGMLQuantizationType.Q8_0)  # 8.5 bits per value instead of 4.5
    idx = next(i for i, f in enumerate(fields[:-1]) if f[4] == q4k)
    name, type_pos, _, _, _ = fields[idx]
    bad = _patched(tmp_path, mini, [(type_pos, "<I", q8)])
    with pytest.raises(ModelFormatError, match="overlap") as exc:
        open_model(bad)
    assert name in str(exc.value) and fields[idx + 1][0] in str(exc.value)


def test_the_untouched_file_opens(mini):
    assert open_model(mini).tensors


def test_hostile_string_array_count_is_refused_not_looped(tmp_path, mini):
    """A count of 2**62 strings used to be walked 8 bytes at a time past the end of the file."""
    reader = gguf.GGUFReader(mini)
    field = reader.fields["tokenizer.ggml.tokens"]
    count_pos = field.parts[4].ctypes.data - reader.data.ctypes.data
    assert int(field.parts[4][0]) > 0
    bad = _patched(tmp_path, mini, [(count_pos, "<Q", 2**62)])
    with pytest.raises(ModelFormatError, match="runs past the end of the file"):
        open_model(bad)
