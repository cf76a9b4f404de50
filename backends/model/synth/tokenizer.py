"""A synthetic byte-level BPE vocabulary ("gpt2" model) of any size, so that llama.cpp and HF
transformers load synthetic files (llama.cpp needs a token list and a non-empty merges list).

Tokens: the 256 byte tokens (GPT-2's byte-to-unicode mapping), then merged tokens of two byte
symbols, then three (each merge joins an existing token with a byte symbol, so every merge's
parts are tokens created earlier), then three Qwen-style control tokens at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice, product
from typing import Iterator

TOKEN_NORMAL, TOKEN_CONTROL = 1, 3  # llama.cpp token types
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class Vocab:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    bos_id: int
    eos_id: int
    pad_id: int


def byte_symbols() -> list[str]:
    """GPT-2's reversible byte -> printable unicode character table (byte order)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)  # unprintable bytes move past Latin-1
            extra += 1
    return [table[b] for b in range(256)]


def _merges(symbols: list[str]) -> Iterator[tuple[str, str]]:
    # Letters first so small vocabularies hold readable tokens.
    order = sorted(symbols, key=lambda s: (not s.isalpha(), s))
    yield from product(order, order)
    for left, right in product(("".join(p) for p in product(order, order)), order):
        yield left, right


def synthetic_vocab(vocab_size: int) -> Vocab:
    """A vocabulary of exactly vocab_size tokens (> 256 + len(SPECIALS))."""
    n_merged = vocab_size - 256 - len(SPECIALS)
    if n_merged < 1:  # llama.cpp refuses a "gpt2" vocabulary with no merges
        raise ValueError(f"vocab_size {vocab_size} must exceed {256 + len(SPECIALS)} "
                         "(byte tokens + specials) to leave room for merges")
    symbols = byte_symbols()
    pairs = list(islice(_merges(symbols), n_merged))
    tokens = symbols + [a + b for a, b in pairs] + list(SPECIALS)
    types = [TOKEN_NORMAL] * (vocab_size - len(SPECIALS)) + [TOKEN_CONTROL] * len(SPECIALS)
    first_special = vocab_size - len(SPECIALS)
    return Vocab(tokens=tokens, token_types=types, merges=[f"{a} {b}" for a, b in pairs],
                 bos_id=first_special, eos_id=first_special + 2, pad_id=first_special)
