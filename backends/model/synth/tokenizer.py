"""A synthetic byte-level BPE vocabulary ("gpt2" model, "qwen2" pre-tokenizer) of any size,
trained by HF `tokenizers` on a small made-up corpus, so text prompts, llama.cpp and HF
transformers all work on synthetic files without a download.

Tokens, as in a real Qwen GGUF: the 256 byte symbols (GPT-2's byte-to-unicode table, byte
order), then one token per learned merge (merge order), then three Qwen-style control tokens,
then `[PAD<id>]` fillers (type UNUSED, as llama.cpp's converter pads a vocabulary) up to the
preset's vocab_size. Training stops at MAX_MERGES, so the 151,936-token preset trains in about a
second. The same seed gives the same corpus and the same vocabulary.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from backends.model.tokenizer import byte_level_pre_tokenizer

TOKEN_NORMAL, TOKEN_CONTROL, TOKEN_UNUSED = 1, 3, 5  # llama.cpp token types
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MAX_MERGES = 4096
CORPUS_LINES = 8000

# Common English words (so prompts like "The capital of France is" merge into real tokens),
# syllables for made-up words, and a few non-ASCII words for multi-byte UTF-8.
WORDS = (
    "the of and to in is was for on that with as by at from it be this are an or have had "
    "not but which one all were when we there can been has more if no out so what up about "
    "into than them some could other time only new these two may then do first any like now "
    "my such make over our even most after also made many before must through back years "
    "where much your way well down should because each just those people how too little "
    "state good very world still own see men work long get here between both life being "
    "under never day same another know while last might us great old year off come since "
    "against go came right used take three capital city country france paris model expert "
    "token layer"
).split()
SYLLABLES = tuple(a + b for a in "bcdfghklmnprstvwz" for b in "aeiou") + ("th", "ch", "sh", "ng")
FOREIGN = ("café", "naïve", "über", "東京", "北京", "ẞtraße", "κόσμε", "привет")
PUNCT = (".", ",", "?", "!", ":", ";")


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
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)  # unprintable bytes move past Latin-1
            extra += 1
    return [table[b] for b in range(256)]


def corpus(seed: int, n_lines: int = CORPUS_LINES) -> list[str]:
    """Made-up sentences: Zipf-drawn words, made-up words, numbers, a few non-ASCII words,
    punctuation and new lines. Every draw is made up front (numpy), then strings are joined."""
    rng = np.random.default_rng([seed, 0x70C])  # a stream of its own, apart from the weights'
    per_line = rng.integers(3, 14, n_lines)
    n = int(per_line.sum())
    kind = np.searchsorted([0.5, 0.9, 0.97], rng.random(n), side="right")
    common = rng.zipf(1.2, n) % len(WORDS)
    sylls, n_sylls = rng.integers(0, len(SYLLABLES), (n, 3)), rng.integers(1, 4, n)
    numbers, foreign = rng.integers(0, 10000, n), rng.integers(0, len(FOREIGN), n)
    punct = rng.integers(0, len(PUNCT), n_lines)
    words = [
        WORDS[common[i]]
        if k == 0
        else "".join(SYLLABLES[j] for j in sylls[i, : n_sylls[i]])
        if k == 1
        else str(numbers[i])
        if k == 2
        else FOREIGN[foreign[i]]
        for i, k in enumerate(kind.tolist())
    ]
    lines, at = [], 0
    for count, mark in zip(per_line.tolist(), punct.tolist()):
        text = " ".join(words[at : at + count])
        at += count
        lines.append(text[0].upper() + text[1:] + PUNCT[mark] + "\n")
    return lines


def train_merges(seed: int, n_merges: int) -> list[tuple[str, str]]:
    """Up to n_merges BPE merges learned by tokenizers' BpeTrainer on corpus(seed), in order."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = byte_level_pre_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=256 + n_merges,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(corpus(seed), trainer)
    # the trained merges are read back through the model's JSON form (its stable interface)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in merges]


@functools.lru_cache(maxsize=8)  # tests write many one-layer files; callers never mutate it
def synthetic_vocab(vocab_size: int, seed: int = 0) -> Vocab:
    """A trained vocabulary of exactly vocab_size tokens (> 256 + len(SPECIALS))."""
    room = vocab_size - 256 - len(SPECIALS)
    if room < 1:  # llama.cpp refuses a "gpt2" vocabulary with no merges
        raise ValueError(
            f"vocab_size {vocab_size} must exceed {256 + len(SPECIALS)} "
            "(byte tokens + specials) to leave room for merges"
        )
    tokens = byte_symbols()
    merges, known = [], set(tokens)
    for left, right in train_merges(seed, min(room, MAX_MERGES)):
        if left + right not in known:  # a merge always makes a new token; kept defensive
            tokens.append(left + right)
            known.add(left + right)
        merges.append(f"{left} {right}")
    n_normal = len(tokens)
    first_special = n_normal
    tokens += list(SPECIALS)
    tokens += [f"[PAD{i}]" for i in range(len(tokens), vocab_size)]
    types = (
        [TOKEN_NORMAL] * n_normal
        + [TOKEN_CONTROL] * len(SPECIALS)
        + [TOKEN_UNUSED] * (vocab_size - n_normal - len(SPECIALS))
    )
    return Vocab(
        tokens=tokens,
        token_types=types,
        merges=merges,
        bos_id=first_special,
        eos_id=first_special + 2,
        pad_id=first_special,
    )
