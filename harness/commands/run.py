"""`harness run`: one forward pass on one backend, for a human or a script.

    harness run --model m.gguf --backend cpu --tokens 785,9217,308 --top 5
    harness run --preset tiny --backend wgpu --device adapter_type=CPU --tokens 1,2,3 \\
        --generate 8 --logits-out logits.npy --format json

Prints who ran (backend identity) and the top-K next tokens at every prompt position; with
--generate N, N greedy tokens; with --logits-out, saves the (T, vocab) float32 logits of every
prompt position (np.save, written to a temp file and renamed into place).
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

from harness.commands._backend_args import EXIT_USAGE, add_backend_arguments, execute, parse_tokens

NAME = "run"
HELP = "Run a forward pass on one backend: top-k per position, greedy generation, logits file."

def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_backend_arguments(parser)
    parser.add_argument("--tokens", required=True, help="comma-separated prompt token ids")
    parser.add_argument("--generate", type=int, default=0, metavar="N",
                        help="also generate N tokens greedily")
    parser.add_argument("--logits-out", type=Path, metavar="OUT.npy",
                        help="save the (T, vocab) float32 logits of the prompt positions")
    parser.add_argument("--top", type=int, default=5, metavar="K", help="tokens shown per position")


def run(args: argparse.Namespace) -> int:
    if args.generate < 0 or args.top < 1:
        Console(stderr=True).print("[red]error:[/red] --generate must be >= 0 and --top >= 1")
        return EXIT_USAGE
    return execute(args, lambda model, backend: _forward(model, backend, args), _print_text)


def _forward(model, backend, args) -> dict:
    tokens = parse_tokens(args.tokens, model.config.vocab_size)
    backend.reset()
    logits = np.asarray(backend.prefill(tokens), dtype=np.float32)
    if args.logits_out:
        save_npy_atomic(args.logits_out, logits)
    top = top_k(logits, args.top)
    generated = backend.generate(tokens, args.generate) if args.generate else []
    return {"model": str(model.path), "identity": backend.identity(), "act": backend.act,
            "tokens": tokens, "top": top, "generated": generated,
            "logits_out": str(args.logits_out) if args.logits_out else None,
            "all_finite": bool(np.isfinite(logits).all())}


def top_k(logits: np.ndarray, k: int) -> list[list[dict]]:
    """Per position, the k largest logits as [{"id", "logit"}], highest first (lower id on ties)."""
    k = min(k, logits.shape[-1])
    order = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
    return [[{"id": int(i), "logit": float(row[i])} for i in ids]
            for row, ids in zip(logits, order)]


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
    err.print(f"backend {ident.get('backend')} on {ident.get('adapter')} "
              f"({ident.get('backend_type')}, {ident.get('adapter_type')}), act {result['act']}",
              highlight=False)
    table = Table("pos", "token", "top next tokens (id:logit)")
    for pos, (tok, best) in enumerate(zip(result["tokens"], result["top"])):
        table.add_row(str(pos), str(tok), "  ".join(f"{b['id']}:{b['logit']:.3f}" for b in best))
    err.print(table)
    if result["generated"]:
        err.print(f"generated: {','.join(map(str, result['generated']))}", highlight=False)
    if result["logits_out"]:
        err.print(f"logits saved to {result['logits_out']}", highlight=False)
    if not result["all_finite"]:
        err.print("[red]warning:[/red] logits contain NaN or Inf", highlight=False)
