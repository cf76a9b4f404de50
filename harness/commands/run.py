"""`harness run`: one forward pass on one backend, for a human or a script.

    harness run --model m.gguf --backend cpu --tokens 785,9217,308 --top 5
    harness run --preset tiny --backend wgpu --device adapter_type=CPU --tokens 1,2,3 \\
        --generate 8 --logits-out logits.npy --format json
    harness run --preset tiny --backend cpu --text "The capital of France is" --generate 4 --decode

Prints who ran (backend identity) and the top-K next tokens at every prompt position; with
--generate N, N greedy tokens; with --logits-out, saves the (T, vocab) float32 logits of every
prompt position (np.save, written to a temp file and renamed into place). --text tokenizes the
prompt with the model file's own tokenizer (its ids and the tokenizer digest are printed);
--decode shows every token id as text as well.
Exit codes: 0 ok, 2 bad input (arguments, model file, token ids), 3 backend unavailable here.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from backends.model.tokenizer import load_tokenizer
from harness.commands._backend_args import EXIT_USAGE, UsageError, add_backend_arguments, execute, parse_tokens
from harness.commands._output import fail
from harness.output_paths import OutputPathError, check_outputs

NAME = "run"
HELP = "Run a forward pass on one backend: top-k per position, greedy generation, logits file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backend_arguments(parser)
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--tokens", help="comma-separated prompt token ids")
    prompt.add_argument("--text", help="prompt text, tokenized by the model file's own tokenizer")
    parser.add_argument("--decode", action="store_true", help="show each token id as text too (the model's tokenizer)")
    parser.add_argument("--generate", type=int, default=0, metavar="N", help="also generate N tokens greedily")
    parser.add_argument(
        "--logits-out", type=Path, metavar="OUT.npy", help="save the (T, vocab) float32 logits of the prompt positions"
    )
    parser.add_argument("--top", type=int, default=5, metavar="K", help="tokens shown per position")


def run(args: argparse.Namespace) -> int:
    if args.generate < 0 or args.top < 1:
        return fail(args, NAME, "error: --generate must be >= 0 and --top >= 1", EXIT_USAGE)
    try:
        check_outputs({"--logits-out": args.logits_out}, {"--model": args.model})
    except OutputPathError as exc:
        return fail(args, NAME, f"error: {exc}", EXIT_USAGE)
    return execute(args, lambda model, backend: _forward(model, backend, args), _print_text)


def _forward(model, backend, args) -> dict:
    tokenizer = load_tokenizer(model) if args.text is not None or args.decode else None
    if args.text is not None:
        tokens = text_tokens(tokenizer, args.text, model.config.vocab_size)
    else:
        tokens = parse_tokens(args.tokens, model.config.vocab_size)
    context = model.config.context_length
    needed = len(tokens) + max(args.generate - 1, 0)  # the last generated id is never fed back
    if needed > context:  # found now, not after the prefill
        raise UsageError(
            f"--tokens has {len(tokens)} ids and --generate {args.generate}: "
            f"{needed} positions exceed the model's context length {context}"
        )
    backend.reset()
    logits = np.asarray(backend.prefill(tokens), dtype=np.float32)
    if args.logits_out:
        save_npy_atomic(args.logits_out, logits)
    top = top_k(logits, args.top)
    generated = backend.generate(tokens, args.generate) if args.generate else []
    result = {
        "model": str(model.path),
        "identity": backend.identity(),
        "act": backend.act,
        "tokens": tokens,
        "top": top,
        "generated": generated,
        "logits_out": str(args.logits_out) if args.logits_out else None,
        "all_finite": bool(np.isfinite(logits).all()),
    }
    if tokenizer is not None:
        result["tokenizer"] = tokenizer.describe()
    if args.text is not None:
        result["text"] = args.text
    if args.decode:
        result["decoded"] = decoded(tokenizer, tokens, top, generated)
    return result


def text_tokens(tokenizer, text: str, vocab_size: int) -> list[int]:
    """The ids `text` becomes; each must be a row of the model's embedding."""
    if not text:
        raise UsageError("--text: empty prompt")
    tokens = tokenizer.encode(text)
    bad = [t for t in tokens if not 0 <= t < vocab_size]
    if bad:
        raise UsageError(f"--text: the tokenizer gave id {bad[0]}, outside the model's vocabulary 0..{vocab_size - 1}")
    return tokens


def decoded(tokenizer, tokens: list[int], top: list[list[dict]], generated: list[int]) -> dict:
    """Text of the prompt, of each prompt token, of each top-k candidate and of the generation."""
    piece = tokenizer.decode
    return {
        "prompt": piece(tokens),
        "tokens": [piece([t]) for t in tokens],
        "top": [[piece([b["id"]]) for b in best] for best in top],
        "generated": piece(generated) if generated else "",
    }


def top_k(logits: np.ndarray, k: int) -> list[list[dict]]:
    """Per position, the k largest logits as [{"id", "logit"}], highest first (lower id on ties)."""
    k = min(k, logits.shape[-1])
    order = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    return [[{"id": int(i), "logit": float(row[i])} for i in ids] for row, ids in zip(logits, order)]


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """np.save to a temp file beside `path`, then rename: a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _print_text(err: Console, result: dict) -> None:
    ident = result["identity"]
    err.print(
        f"backend {ident.get('backend')} on {ident.get('adapter')} "
        f"({ident.get('backend_type')}, {ident.get('adapter_type')}), act {result['act']}",
        highlight=False,
    )
    if "text" in result:
        tok = result["tokenizer"]
        err.print(
            f"text {result['text']!r} -> {len(result['tokens'])} tokens "
            f"({tok['model']}/{tok['pre']} tokenizer sha256 {tok['sha256'][:16]}...)",
            highlight=False,
        )
    text = result.get("decoded")
    table = Table("pos", "token", "top next tokens (id:logit)")
    for pos, (tok, best) in enumerate(zip(result["tokens"], result["top"])):
        cands = [f"{b['id']}:{b['logit']:.3f}" for b in best]
        if text:
            cands = [f"{c} {t!r}" for c, t in zip(cands, text["top"][pos])]
        shown = f"{tok} {text['tokens'][pos]!r}" if text else str(tok)
        table.add_row(str(pos), shown, "  ".join(cands))
    err.print(table)
    if result["generated"]:
        err.print(f"generated: {','.join(map(str, result['generated']))}", highlight=False)
        if text:
            err.print(f"generated text: {text['generated']!r}", highlight=False)
    if result["logits_out"]:
        err.print(f"logits saved to {result['logits_out']}", highlight=False)
    if not result["all_finite"]:
        err.print("[red]warning:[/red] logits contain NaN or Inf", highlight=False)
