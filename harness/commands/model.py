"""`harness model synth|info`: write a synthetic qwen3moe GGUF, or describe a GGUF file.

    harness model synth --preset tiny --seed 0 --out tiny.gguf   # path, size, sha256
    harness model synth --preset qwen3-30b-a3b --seed 0 --out big.gguf --workers 8
    harness model info FILE.gguf                                  # config + tensor inventory

The result goes to stdout (text, or JSON with `--format json`); progress to stderr.
Exit codes: 0 ok, 2 bad input (unreadable or malformed file, unwritable output).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from backends.model.errors import ModelFormatError
from backends.model.gguf_model import open_model
from backends.model.synth import GENERATOR_VERSION, PRESETS, write_synthetic
from harness import exit_codes
from harness.commands._output import add_format, fail, stderr_console, stdout_console
from harness.output_paths import OutputPathError, check_outputs

NAME = "model"
HELP = "Synthetic model generation (synth) and GGUF model description (info)."

EXIT_OK, EXIT_USAGE = exit_codes.OK, exit_codes.USAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    synth = sub.add_parser("synth", help="write a deterministic synthetic qwen3moe GGUF file")
    synth.add_argument("--preset", required=True, choices=sorted(PRESETS))
    synth.add_argument("--seed", required=True, type=int)
    synth.add_argument("--out", required=True, type=Path, metavar="FILE.gguf")
    synth.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="make tensors in N processes (same bytes; helps the 17 GB preset)",
    )
    synth.add_argument(
        "--layers",
        type=int,
        default=None,
        metavar="N",
        help="override the preset's layer count (a shorter model of the same shape per layer, for quick GPU profiling)",
    )
    add_format(synth)
    info = sub.add_parser("info", help="print a GGUF file's config and tensor inventory")
    info.add_argument("file", type=Path, metavar="FILE.gguf")
    add_format(info)


def run(args: argparse.Namespace) -> int:
    try:
        if args.model_command == "synth":
            check_outputs({"--out": args.out}, {})  # never over a key, into a directory, ...
            return _synth(args, stderr_console(args), stdout_console())
        return _info(args, stdout_console())
    except (ModelFormatError, OSError, OutputPathError) as exc:
        return fail(args, f"model {args.model_command}", f"error: {exc}", EXIT_USAGE)


def _synth(args: argparse.Namespace, err: Console, out: Console) -> int:
    start = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=args.format == "json",
    ) as bar:
        task = bar.add_task(f"synth {args.preset}", total=None)

        def progress(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=name)

        preset = dataclasses.replace(PRESETS[args.preset], n_layer=args.layers) if args.layers else args.preset
        path = write_synthetic(args.out, preset, args.seed, progress=progress, workers=args.workers)
    seconds = time.perf_counter() - start
    model = open_model(path)  # re-read: what we report is what a reader sees
    result = {
        "path": str(path),
        "preset": args.preset,
        "seed": args.seed,
        "generator_version": GENERATOR_VERSION,
        "size_bytes": path.stat().st_size,
        "sha256": model.sha256(),
        "seconds": round(seconds, 3),
    }
    if args.format == "json":
        print(json.dumps(result, indent=2))
    else:
        out.print(f"wrote {result['path']}", highlight=False)
        out.print(f"  size   {result['size_bytes']} bytes ({result['size_bytes'] / 2**30:.2f} GiB)")
        out.print(f"  sha256 {result['sha256']}", highlight=False)
        out.print(f"  took   {seconds:.1f} s")
    return EXIT_OK


def _info(args: argparse.Namespace, out: Console) -> int:
    model = open_model(args.file)
    if args.format == "json":
        print(
            json.dumps(
                {"path": str(model.path), "config": model.config.to_dict(), "tensors": model.inventory()}, indent=2
            )
        )
        return EXIT_OK
    out.print(f"{model.path}", highlight=False)
    for key, value in model.config.to_dict().items():
        out.print(f"  {key:15} {value}", highlight=False)
    table = Table("tensor", "qtype", "shape", "bytes")
    for t in model.inventory():
        table.add_row(t["name"], t["qtype"], "x".join(map(str, t["shape"])), str(t["nbytes"]))
    out.print(table)
    return EXIT_OK
