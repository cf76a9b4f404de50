"""backends.model.gguf_model / backends.model.config: reading, slicing, and the errors for broken files.

Broken files are written with gguf-py's GGUFWriter from a one-layer variant of the tiny preset
(random well-formed blocks: milliseconds to make), changing one thing at a time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil

import gguf
import numpy as np
import pytest

from backends.model.errors import ModelFormatError, UnsupportedQuantType
from backends.model.gguf_model import open_model
from backends.model.synth import PRESETS, tensor_plan
from backends.model.synth.weights import tensor_data
from backends.model.synth.writer import add_metadata

MINI = dataclasses.replace(PRESETS["tiny"], name="mini", n_layer=1, weights="random_blocks")


def write_variant(path, *, arch="qwen3moe", drop_keys=(), edit=None):
    """Write MINI with metadata keys dropped and tensors edited.

    edit(name, data, qtype) -> None (drop the tensor) or (data, qtype, raw_shape or None)."""
    w = gguf.GGUFWriter(path, arch)
    add_metadata(w, MINI, 0)
    for key in drop_keys:
        del w.kv_data[0][key]
    for name, shape, qtype in tensor_plan(MINI):
        item = (tensor_data(name, shape, qtype, MINI, 0), qtype, None)
        if edit is not None:
            item = edit(name, *item[:2])
        if item is None:
            continue
        data, qtype, raw_shape = item
        raw = None if qtype == "F32" else gguf.GGMLQuantizationType[qtype]
        w.add_tensor(name, data, raw_shape=raw_shape, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def mini_path(tmp_path_factory):
    return write_variant(tmp_path_factory.mktemp("mini") / "mini.gguf")


def reference_dequantize(model, name):
    """Whole-tensor decode by gguf-py, independent of backends.model.quants."""
    info = model.tensors[name]
    return gguf.quants.dequantize(np.asarray(model.raw(name)), gguf.GGMLQuantizationType[info.qtype])


def test_config_from_metadata_matches_written_keys(mini_path):
    cfg = open_model(mini_path).config
    assert (cfg.arch, cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_head_kv) == (
        "qwen3moe",
        MINI.n_layer,
        MINI.n_embd,
        MINI.n_head,
        MINI.n_head_kv,
    )
    assert (cfg.head_dim, cfg.value_dim, cfg.n_expert, cfg.n_expert_used, cfg.n_ff_exp) == (
        MINI.head_dim,
        MINI.head_dim,
        MINI.n_expert,
        MINI.n_expert_used,
        MINI.n_ff_exp,
    )
    assert (cfg.vocab_size, cfg.context_length) == (MINI.vocab_size, MINI.context_length)
    assert cfg.rms_eps == pytest.approx(MINI.rms_eps) and cfg.rope_theta == MINI.rope_theta
    assert cfg.tied_output is False and cfg.derived == ()
    assert cfg.to_dict()["head_dim"] == MINI.head_dim


@pytest.mark.parametrize(
    "key",
    [
        "qwen3moe.rope.freq_base",
        "qwen3moe.attention.key_length",
        "qwen3moe.attention.layer_norm_rms_epsilon",
        "qwen3moe.expert_used_count",
        "qwen3moe.block_count",
    ],
)
def test_open_model_missing_key_names_the_key(tmp_path, key):
    path = write_variant(tmp_path / "m.gguf", drop_keys=[key])
    with pytest.raises(ModelFormatError, match=f"missing required metadata key {key}"):
        open_model(path)


def test_open_model_derives_ff_and_vocab_when_keys_absent(tmp_path):
    path = write_variant(tmp_path / "m.gguf", drop_keys=["qwen3moe.expert_feed_forward_length", "qwen3moe.vocab_size"])
    cfg = open_model(path).config
    assert (cfg.n_ff_exp, cfg.vocab_size) == (MINI.n_ff_exp, MINI.vocab_size)
    assert set(cfg.derived) == {"n_ff_exp", "vocab_size"}


def test_open_model_wrong_arch_names_it(tmp_path):
    path = write_variant(tmp_path / "m.gguf", arch="llama")
    with pytest.raises(ModelFormatError, match="'llama'"):
        open_model(path)


def test_open_model_truncated_names_the_tensor(tmp_path, mini_path):
    cut = tmp_path / "cut.gguf"
    data = mini_path.read_bytes()
    cut.write_bytes(data[: len(data) - 1000])  # output.weight is last in file order
    with pytest.raises(ModelFormatError, match=r"truncated: output\.weight"):
        open_model(cut)


def test_open_model_truncated_header_names_the_file(tmp_path, mini_path):
    cut = tmp_path / "header.gguf"
    cut.write_bytes(mini_path.read_bytes()[:200])
    with pytest.raises(ModelFormatError, match="header.gguf"):
        open_model(cut)


def test_open_model_unsupported_type_names_tensor_and_type(tmp_path):
    def iq4_xs(name, data, qtype):  # IQ4_XS: 256 values in 136 bytes
        if name != "blk.0.attn_q.weight":
            return data, qtype, None
        return np.zeros((data.shape[0], 136), np.uint8), "IQ4_XS", None

    path = write_variant(tmp_path / "m.gguf", edit=iq4_xs)
    with pytest.raises(
        UnsupportedQuantType, match=r"blk\.0\.attn_q\.weight: type IQ4_XS is not supported \(supported: "
    ):
        open_model(path)


def test_open_model_row_length_not_multiple_of_block(tmp_path):
    def odd_row(name, data, qtype):
        if name != "blk.0.attn_k.weight":
            return data, qtype, None
        # int8 view: the writer then takes raw_shape as the element shape (300 per row)
        return np.zeros((128, 300 // 256 * 144 + 144), np.int8), qtype, (128, 300)

    path = write_variant(tmp_path / "m.gguf", edit=odd_row)
    with pytest.raises(
        ModelFormatError,
        match=r"blk\.0\.attn_k\.weight: row length 300 is not a "
        r"multiple of the Q4_K block size 256",
    ):
        open_model(path)


def test_open_model_bad_shape_names_got_and_expected(tmp_path):
    def wide_k(name, data, qtype):
        if name == "blk.0.attn_k.weight":
            return np.concatenate([data, data[:64]]), qtype, None
        return data, qtype, None

    path = write_variant(tmp_path / "m.gguf", edit=wide_k)
    with pytest.raises(
        ModelFormatError,
        match=r"blk\.0\.attn_k\.weight: shape \(192, 256\) "
        r"does not match the config \(expected \(128, 256\)\)",
    ):
        open_model(path)


def test_open_model_missing_tensor_names_it(tmp_path):
    path = write_variant(
        tmp_path / "m.gguf", edit=lambda n, d, q: None if n == "blk.0.ffn_norm.weight" else (d, q, None)
    )
    with pytest.raises(ModelFormatError, match=r"missing tensor blk\.0\.ffn_norm\.weight"):
        open_model(path)


def test_open_model_tied_output_accepted(tmp_path):
    path = write_variant(tmp_path / "m.gguf", edit=lambda n, d, q: None if n == "output.weight" else (d, q, None))
    model = open_model(path)
    assert model.config.tied_output is True and "output.weight" not in model.tensors


def test_raw_shapes_by_rank(mini_path):
    m = open_model(mini_path)
    assert m.raw("token_embd.weight").shape == (MINI.vocab_size, MINI.n_embd // 256 * 144)
    assert m.raw("blk.0.ffn_down_exps.weight").shape[:2] == (MINI.n_expert, MINI.n_embd)
    assert m.raw("output_norm.weight").shape == (1, MINI.n_embd * 4)
    assert m.expert_raw("blk.0.ffn_up_exps.weight", 2).shape == (MINI.n_ff_exp, 144)


@pytest.mark.parametrize(
    "name",
    ["token_embd.weight", "output.weight", "blk.0.attn_v.weight", "blk.0.ffn_gate_inp.weight", "output_norm.weight"],
)
def test_rows_equal_slices_of_full_dequantize(mini_path, name):
    m = open_model(mini_path)
    full = reference_dequantize(m, name).reshape(-1, m.tensors[name].n_cols)
    n = full.shape[0]
    for r0, r1 in [(0, 1), (min(3, n - 1), min(11, n)), (n - 1, n), (0, n)]:
        np.testing.assert_array_equal(m.rows(name, r0, r1), full[r0:r1])


@pytest.mark.parametrize("name", ["blk.0.ffn_gate_exps.weight", "blk.0.ffn_down_exps.weight"])
def test_rows_expert_slices(mini_path, name):
    m = open_model(mini_path)
    full = reference_dequantize(m, name)
    for e in (0, MINI.n_expert - 1):
        np.testing.assert_array_equal(m.rows(name, 5, 17, expert=e), full[e, 5:17])


def test_rows_out_of_range_and_missing_expert_raise(mini_path):
    m = open_model(mini_path)
    with pytest.raises(IndexError, match="token_embd.weight"):
        m.rows("token_embd.weight", 0, MINI.vocab_size + 1)
    with pytest.raises(ValueError, match="expert="):
        m.rows("blk.0.ffn_up_exps.weight", 0, 1)
    with pytest.raises(IndexError, match="expert 6"):
        m.expert_raw("blk.0.ffn_up_exps.weight", MINI.n_expert)


def test_sha256_matches_hashlib(tmp_path, mini_path):
    copy = shutil.copy(mini_path, tmp_path / "copy.gguf")
    m = open_model(copy)
    assert m.sha256() == hashlib.sha256(mini_path.read_bytes()).hexdigest()


def test_inventory_lists_every_tensor(mini_path):
    m = open_model(mini_path)
    inv = {t["name"]: t for t in m.inventory()}
    assert set(inv) == {name for name, _, _ in tensor_plan(MINI)}
    assert inv["output.weight"]["qtype"] == "Q6_K"
    assert inv["blk.0.ffn_gate_exps.weight"]["shape"] == [MINI.n_expert, MINI.n_ff_exp, MINI.n_embd]
    assert sum(t["nbytes"] for t in inv.values()) < mini_path.stat().st_size


def test_metadata_matches_stock_gguf_reader(mini_path):
    # Our reader parses arrays through a fast path; every key must read as gguf-py reads it.
    stock = gguf.GGUFReader(mini_path)
    model = open_model(mini_path)
    for key, field in stock.fields.items():
        assert model.metadata(key) == field.contents(), key
    assert len(model.metadata("tokenizer.ggml.tokens")) == MINI.vocab_size
    assert model.metadata("no.such.key") is None


def test_open_model_missing_architecture_names_the_key(tmp_path):
    path = write_variant(tmp_path / "m.gguf", drop_keys=["general.architecture"])
    with pytest.raises(ModelFormatError, match="missing required metadata key general.architecture"):
        open_model(path)


def test_open_model_missing_file_is_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_model(tmp_path / "absent.gguf")
