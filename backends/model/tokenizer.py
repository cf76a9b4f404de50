"""The tokenizer stored in a GGUF file, built with HF `tokenizers` (never a hand-written BPE).

Supported: tokenizer.ggml.model "gpt2" (byte-level BPE from `.tokens` + `.merges`) with the
pre-tokenizer `.pre` "qwen2" (Qwen2/Qwen3's split regex). Any other model or pre-tokenizer is
refused with its name (ModelFormatError), since its splitting rules would differ silently.

Like llama.cpp with parse_special: control tokens (token_type 3, e.g. <|im_start|>) and
user-defined ones (4) are matched in the text as single tokens; no NFC normalisation (llama.cpp
applies none). `.add_bos_token` / `.add_eos_token` add the bos / eos id around the text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

from backends.model.errors import ModelFormatError

PREFIX = "tokenizer.ggml."
TOKEN_CONTROL, TOKEN_USER_DEFINED = 3, 4  # llama.cpp token types

# Qwen2's split regex, verbatim from its tokenizer.json (llama.cpp's LLAMA_VOCAB_PRE_TYPE_QWEN2).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# tokenizer.ggml.model -> {tokenizer.ggml.pre -> split regex}
SUPPORTED: dict[str, dict[str, str]] = {"gpt2": {"qwen2": QWEN2_SPLIT}}

Metadata = Callable[[str], Any]  # key -> value, None when absent


def byte_level_pre_tokenizer(split: str = QWEN2_SPLIT):
    """The regex split then GPT-2's byte -> unicode mapping (shared with the synthetic trainer)."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def check_kind(get: Metadata, source: str) -> None:
    """Refuse a tokenizer model or pre-tokenizer this project cannot reproduce, naming it.
    A file with no tokenizer.ggml.model at all passes (it just cannot take text prompts)."""
    model = get(PREFIX + "model")
    if model is None:
        return
    if model not in SUPPORTED:
        raise ModelFormatError(
            f"{source}: tokenizer.ggml.model {model!r} is not supported (supported: {', '.join(SUPPORTED)})"
        )
    pre = get(PREFIX + "pre")
    if pre not in SUPPORTED[model]:
        raise ModelFormatError(
            f"{source}: tokenizer.ggml.pre {pre!r} is not supported for "
            f"model {model!r} (supported: {', '.join(SUPPORTED[model])})"
        )


@dataclass(frozen=True)
class TextTokenizer:
    """Text <-> ids with a file's own tokenizer. `sha256` digests the metadata it was built from."""

    model: str
    pre: str
    sha256: str
    n_tokens: int
    bos_id: int | None
    eos_id: int | None
    add_bos: bool
    add_eos: bool
    _hf: Any

    def encode(self, text: str) -> list[int]:
        ids = self._hf.encode(text, add_special_tokens=False).ids
        if self.add_bos and self.bos_id is not None:
            ids = [self.bos_id, *ids]
        if self.add_eos and self.eos_id is not None:
            ids = [*ids, self.eos_id]
        return ids

    def decode(self, ids: list[int]) -> str:
        bad = [i for i in ids if not 0 <= int(i) < self.n_tokens]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the tokenizer's 0..{self.n_tokens - 1}")
        return self._hf.decode([int(i) for i in ids], skip_special_tokens=False)

    def describe(self) -> dict:
        """What a report records about the tokenizer."""
        return {
            "model": self.model,
            "pre": self.pre,
            "sha256": self.sha256,
            "tokens": self.n_tokens,
            "add_bos": self.add_bos,
            "add_eos": self.add_eos,
            "library": f"tokenizers {tokenizers.__version__}",
        }


def load_tokenizer(model) -> TextTokenizer:
    """The tokenizer of an opened GGUFModel (see tokenizer_from_metadata)."""
    return tokenizer_from_metadata(model.metadata, model.path.name)


def tokenizer_from_metadata(get: Metadata, source: str) -> TextTokenizer:
    """Build the tokenizer from tokenizer.ggml.* metadata; ModelFormatError names the key at fault."""
    if get(PREFIX + "model") is None:
        raise ModelFormatError(
            f"{source}: no tokenizer.ggml.model key: the file holds no "
            "tokenizer, so it cannot take text prompts (give token ids)"
        )
    check_kind(get, source)
    meta = _metadata(get, source)
    hf = _build(meta, source)
    digest = hashlib.sha256(
        json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    return TextTokenizer(
        model=meta["model"],
        pre=meta["pre"],
        sha256=digest,
        n_tokens=len(meta["tokens"]),
        bos_id=meta["bos_token_id"],
        eos_id=meta["eos_token_id"],
        add_bos=meta["add_bos_token"],
        add_eos=meta["add_eos_token"],
        _hf=hf,
    )


def _metadata(get: Metadata, source: str) -> dict:
    """The keys the tokenizer depends on, checked for shape (what the digest covers)."""
    tokens, merges = get(PREFIX + "tokens"), get(PREFIX + "merges")
    for key, value in (("tokens", tokens), ("merges", merges)):
        if not isinstance(value, list) or not value:
            raise ModelFormatError(
                f"{source}: tokenizer.ggml.{key} is missing or empty (a {get(PREFIX + 'model')!r} tokenizer needs it)"
            )
        if not all(isinstance(v, str) for v in value):
            raise ModelFormatError(f"{source}: tokenizer.ggml.{key} is not an array of strings")
    types = get(PREFIX + "token_type") or [1] * len(tokens)
    if not isinstance(types, list) or not all(isinstance(t, int) for t in types):
        raise ModelFormatError(f"{source}: tokenizer.ggml.token_type is not an array of integers")
    if len(types) != len(tokens):
        raise ModelFormatError(f"{source}: tokenizer.ggml.token_type has {len(types)} entries for {len(tokens)} tokens")
    meta = {
        "model": get(PREFIX + "model"),
        "pre": get(PREFIX + "pre"),
        "tokens": tokens,
        "token_type": [int(t) for t in types],
        "merges": merges,
        "add_bos_token": bool(get(PREFIX + "add_bos_token")),
        "add_eos_token": bool(get(PREFIX + "add_eos_token")),
    }
    for key in ("bos_token_id", "eos_token_id"):
        value = get(PREFIX + key)
        if value is not None and (not isinstance(value, int) or not 0 <= value < len(tokens)):
            raise ModelFormatError(f"{source}: tokenizer.ggml.{key} {value!r} is outside the {len(tokens)} tokens")
        meta[key] = None if value is None else int(value)
    if meta["add_bos_token"] and meta["bos_token_id"] is None:
        raise ModelFormatError(
            f"{source}: tokenizer.ggml.add_bos_token is set but there is no tokenizer.ggml.bos_token_id"
        )
    return meta


def _build(meta: dict, source: str):
    tokens = meta["tokens"]
    vocab: dict[str, int] = {}
    for i, token in enumerate(tokens):
        if token in vocab:
            raise ModelFormatError(f"{source}: tokenizer.ggml.tokens[{i}] {token!r} repeats tokens[{vocab[token]}]")
        vocab[token] = i
    pairs = []
    for i, merge in enumerate(meta["merges"]):
        parts = merge.split(" ")
        if len(parts) != 2 or not all(p in vocab for p in parts) or "".join(parts) not in vocab:
            raise ModelFormatError(
                f"{source}: tokenizer.ggml.merges[{i}] {merge!r} is not two known tokens whose join is a token"
            )
        pairs.append((parts[0], parts[1]))
    hf = Tokenizer(models.BPE(vocab=vocab, merges=pairs))
    hf.pre_tokenizer = byte_level_pre_tokenizer(SUPPORTED[meta["model"]][meta["pre"]])
    hf.decoder = decoders.ByteLevel()
    types = meta["token_type"]
    hf.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, kind in zip(tokens, types) if kind == TOKEN_CONTROL]
    )
    hf.add_tokens(
        [AddedToken(t, special=False, normalized=False) for t, kind in zip(tokens, types) if kind == TOKEN_USER_DEFINED]
    )
    return hf
