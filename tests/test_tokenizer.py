"""backends.model.tokenizer: the GGUF's own tokenizer through HF tokenizers, its refusals, and
the synthetic trained vocabulary; cross-checked against transformers' GGUF tokenizer conversion
and llama.cpp's tokenizer where those optional libraries are installed."""

from __future__ import annotations

import dataclasses
import importlib.util

import gguf
import pytest

from backends.model.errors import ModelFormatError
from backends.model.gguf_model import open_model
from backends.model.synth import PRESETS, tensor_plan
from backends.model.synth.tokenizer import MAX_MERGES, SPECIALS, TOKEN_UNUSED, synthetic_vocab, train_merges
from backends.model.synth.weights import tensor_data
from backends.model.synth.writer import add_metadata
from backends.model.tokenizer import byte_level_pre_tokenizer, load_tokenizer, tokenizer_from_metadata
from harness.cli import main as harness_main

MINI = dataclasses.replace(PRESETS["tiny"], name="mini", n_layer=1, weights="random_blocks")
TEXTS = (
    "The capital of France is",
    "Hi<|im_end|> 12345\n\n東京 don't",
    "  spaces   x",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
    "naïve café ẞtraße κόσμε",
    "a\tb\r\nc",
)
S = gguf.GGUFValueType.STRING


def write_mini(path, **keys):
    """MINI with tokenizer.ggml.<key> set to (value, type[, sub_type]) or dropped (None)."""
    w = gguf.GGUFWriter(path, "qwen3moe")
    add_metadata(w, MINI, 0)
    for key, spec in keys.items():
        full = f"tokenizer.ggml.{key}"
        if spec is None:
            del w.kv_data[0][full]
        else:
            w.kv_data[0][full] = gguf.GGUFValue(*spec)
    for name, shape, qtype in tensor_plan(MINI):
        raw = None if qtype == "F32" else gguf.GGMLQuantizationType[qtype]
        w.add_tensor(name, tensor_data(name, shape, qtype, MINI, 0), raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def meta(vocab, **extra):
    """A metadata lookup (key -> value) for a synthetic vocabulary."""
    d = {
        "model": "gpt2",
        "pre": "qwen2",
        "tokens": vocab.tokens,
        "token_type": vocab.token_types,
        "merges": vocab.merges,
        "bos_token_id": vocab.bos_id,
        "eos_token_id": vocab.eos_id,
        **extra,
    }
    return {f"tokenizer.ggml.{k}": v for k, v in d.items()}.get


@pytest.fixture(scope="module")
def tiny_tok(tiny_model):
    return load_tokenizer(tiny_model)


def test_text_round_trips_through_merged_tokens(tiny_tok):
    for text in TEXTS:
        ids = tiny_tok.encode(text)
        assert tiny_tok.decode(ids) == text
    ids = tiny_tok.encode("The capital of France is")
    assert len(ids) < len("The capital of France is")  # merges were applied, not just bytes


@pytest.mark.parametrize(
    "text, pieces",
    [  # worked out by hand from Qwen2's regex
        ("Hello world", ["Hello", "Ġworld"]),
        (" 12345", ["Ġ", "1", "2", "3", "4", "5"]),  # GPT-2's regex: one " 12345" piece
        ("don't DON'T", ["don", "'t", "ĠDON", "'T"]),  # contractions case-insensitive
        ("a  b", ["a", "Ġ", "Ġb"]),
        ("x\n\ny", ["x", "ĊĊ", "y"]),
        ("hi?!... ok", ["hi", "?!...", "Ġok"]),
        ("東京", ["æĿ±äº¬"]),  # letters: one piece of 6 bytes
    ],
)
def test_qwen2_pre_tokenizer_splits_as_the_regex_says(text, pieces):
    assert [p for p, _ in byte_level_pre_tokenizer().pre_tokenize_str(text)] == pieces


def test_qwen2_pre_tokenizer_splits_digits_and_keeps_specials(tiny_tok, tiny_model):
    tokens = tiny_model.metadata("tokenizer.ggml.tokens")
    # Qwen2 splits numbers into single digits (GPT-2's regex would keep " 12345" together)
    assert [tokens[i] for i in tiny_tok.encode(" 12345")] == ["Ġ", "1", "2", "3", "4", "5"]
    ids = tiny_tok.encode("<|im_start|>user<|im_end|>")
    assert ids[0] == tokens.index("<|im_start|>") and ids[-1] == tokens.index("<|im_end|>")
    assert tiny_tok.decode(ids[:1]) == "<|im_start|>"


def test_add_bos_token_prepends_bos():
    v = synthetic_vocab(512, 3)
    plain = tokenizer_from_metadata(meta(v), "x")
    with_bos = tokenizer_from_metadata(meta(v, add_bos_token=True), "x")
    assert with_bos.encode("hello") == [v.bos_id, *plain.encode("hello")]
    assert with_bos.sha256 != plain.sha256


def test_digest_is_stable_and_follows_the_merges():
    v = synthetic_vocab(512, 3)
    a, b = tokenizer_from_metadata(meta(v), "x"), tokenizer_from_metadata(meta(v), "y")
    assert a.sha256 == b.sha256 and len(a.sha256) == 64
    fewer = tokenizer_from_metadata(meta(v, merges=v.merges[:-1]), "x")
    assert fewer.sha256 != a.sha256


@pytest.mark.parametrize(
    "keys,match",
    [
        ({"model": ("llama", S)}, "tokenizer.ggml.model 'llama' is not supported"),
        ({"model": ("bert", S)}, "tokenizer.ggml.model 'bert' is not supported"),
        ({"pre": ("llama-bpe", S)}, "tokenizer.ggml.pre 'llama-bpe' is not supported for model 'gpt2'"),
        ({"pre": None}, "tokenizer.ggml.pre None is not supported"),
    ],
)
def test_unknown_tokenizer_is_refused_at_open_naming_it(tmp_path, keys, match):
    path = write_mini(tmp_path / "m.gguf", **keys)
    with pytest.raises(ModelFormatError, match=match):
        open_model(path)


def test_cli_refuses_unknown_tokenizer_with_exit_2(tmp_path, capsys):
    path = write_mini(tmp_path / "m.gguf", model=("llama", S))
    assert harness_main(["model", "info", str(path)]) == 2
    assert "'llama'" in capsys.readouterr().err
    assert harness_main(["run", "--model", str(path), "--backend", "cpu", "--tokens", "1"]) == 2


def test_file_without_tokenizer_opens_but_cannot_tokenize(tmp_path):
    path = write_mini(tmp_path / "m.gguf", model=None)
    model = open_model(path)  # id prompts still work on it
    with pytest.raises(ModelFormatError, match="no tokenizer.ggml.model key"):
        load_tokenizer(model)


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda v: {"merges": v.merges + ["zz qq"]}, r"merges\[253\] 'zz qq' is not two known tokens"),
        (lambda v: {"merges": ["a b c"]}, r"merges\[0\] 'a b c'"),
        (lambda v: {"tokens": v.tokens[:-1] + ["a"]}, r"tokens\[511\] 'a' repeats tokens\[97\]"),
        (lambda v: {"token_type": v.token_types[:10]}, "token_type has 10 entries for 512 tokens"),
        (lambda v: {"bos_token_id": 512}, "bos_token_id 512 is outside the 512 tokens"),
        (lambda v: {"eos_token_id": "2"}, "eos_token_id '2' is outside the 512 tokens"),
        (lambda v: {"merges": []}, "merges is missing or empty"),
        (lambda v: {"merges": [1, 2]}, "merges is not an array of strings"),
        (lambda v: {"token_type": ["x"] * 512}, "token_type is not an array of integers"),
        (lambda v: {"add_bos_token": True, "bos_token_id": None}, "add_bos_token is set but"),
    ],
)
def test_malformed_tokenizer_metadata_names_the_key(edit, match):
    v = synthetic_vocab(512, 0)
    with pytest.raises(ModelFormatError, match=match):
        tokenizer_from_metadata(meta(v, **edit(v)), "bad.gguf")


def test_decode_refuses_ids_outside_the_vocabulary(tiny_tok):
    with pytest.raises(ValueError, match="token id 512 is outside"):
        tiny_tok.decode([1, 512])


# -- the synthetic vocabulary ----------------------------------------------------------------
def test_synthetic_vocab_is_trained_deterministic_and_seeded():
    a, b, c = synthetic_vocab(512, 7), synthetic_vocab(512, 7), synthetic_vocab(512, 8)
    assert a == b and a.merges != c.merges
    assert a.merges == [f"{x} {y}" for x, y in train_merges(7, 512 - 256 - len(SPECIALS))]
    assert len(a.tokens) == len(set(a.tokens)) == 512 and TOKEN_UNUSED not in a.token_types


def test_large_synthetic_vocab_pads_past_the_trained_merges():
    v = synthetic_vocab(151936, 0)
    assert len(v.tokens) == len(set(v.tokens)) == 151936 and len(v.merges) == MAX_MERGES
    first_pad = 256 + MAX_MERGES + len(SPECIALS)
    assert v.tokens[first_pad] == f"[PAD{first_pad}]"
    assert set(v.token_types[first_pad:]) == {TOKEN_UNUSED}
    tok = tokenizer_from_metadata(meta(v), "big")
    assert tok.decode(tok.encode("The capital of France is")) == "The capital of France is"
    assert max(tok.encode("[PAD300000] the end")) < 256 + MAX_MERGES  # fillers are unreachable


# -- cross-checks against implementations nobody here wrote (optional) -----------------------
@pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None,
    reason="needs transformers (optional [hf] extra) for its GGUF tokenizer",
)
def test_transformers_gguf_tokenizer_gives_the_same_ids(tiny_model_path, tiny_tok):
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(str(tiny_model_path.parent), gguf_file=tiny_model_path.name)
    for text in TEXTS:
        assert theirs(text, add_special_tokens=False)["input_ids"] == tiny_tok.encode(text), text


@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python (optional cross-check)"
)
def test_llama_cpp_tokenizer_gives_the_same_ids(tiny_model_path, tiny_tok):
    from llama_cpp import Llama

    llm = Llama(model_path=str(tiny_model_path), vocab_only=True, verbose=False)
    for text in TEXTS:  # special=True: control tokens are parsed, as ours are
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == tiny_tok.encode(text), text
