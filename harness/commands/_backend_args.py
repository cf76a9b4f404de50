"""Arguments shared by `harness run` and `harness bench`: which model, which backend, which device.

The model is named explicitly, either a GGUF file (--model) or a synthetic preset (--preset,
generated once into the cache): a command that silently ran on some default model would report
numbers about the wrong thing.
"""

from __future__ import annotations

import argparse
from typing import Callable

from rich.console import Console

import backends
from backends.api import BackendUnavailable
from backends.cpu.matvec import ACTS
from backends.model.errors import ModelFormatError
from backends.model.gguf_model import open_model
from backends.model.synth import PRESETS
from harness import exit_codes
from harness.commands._device_arg import expand_cells
from harness.commands._output import fail, note, print_json, stdout_console
from harness.contract.errors import ContractError
from harness.model_store import synthetic_model

SELECTOR_HELP = (
    "a contract cell id (e.g. lavapipe: that cell's selector) or a wgpu adapter "
    "selector KEY=VALUE, repeatable: vendor_id=0x10de, "
    "backend_type=Vulkan, adapter_type=DiscreteGPU|IntegratedGPU|CPU, "
    "name_pattern=REGEX (searched in the adapter name); any other bare word such "
    "as llvmpipe is short for name_pattern=WORD"
)


EXIT_OK, EXIT_USAGE, EXIT_UNAVAILABLE = exit_codes.OK, exit_codes.USAGE, exit_codes.INCONCLUSIVE


class UsageError(ValueError):
    """Bad command-line input; the message says which argument and why."""


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="FILE.gguf", help="a qwen3moe GGUF file")
    which.add_argument(
        "--preset", choices=sorted(PRESETS), help="a synthetic model preset (generated once, then cached)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the --preset model (default 0)")
    parser.add_argument("--backend", required=True, choices=backends.backend_names())
    parser.add_argument("--device", action="append", default=[], metavar="CELL|KEY=VALUE", help=SELECTOR_HELP)
    parser.add_argument(
        "--contract", metavar="FILE", help="read --device cell ids from this contract (default: the shipped ones)"
    )
    parser.add_argument(
        "--act",
        choices=ACTS,
        default="fp32",
        help="activation path: fp32, or q8k (llama.cpp's activation quantisation emulated; CPU reference only)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def parse_selector(items: list[str]) -> dict | None:
    """["vendor_id=0x10de", "llvmpipe"] -> {"vendor_id": 4318, "name_pattern": "llvmpipe"};
    None if empty."""
    selector: dict = {}
    for item in items:
        key, _, value = item.partition("=") if "=" in item else ("name_pattern", "=", item)
        if not key or not value:
            raise UsageError(f"--device {item!r}: expected KEY=VALUE ({SELECTOR_HELP})")
        try:
            selector[key] = int(value, 0) if key == "vendor_id" else value
        except ValueError:
            raise UsageError(f"--device {item!r}: vendor_id must be an integer (e.g. 0x10de)") from None
    try:
        backends.match_selector("wgpu", {}, selector)  # validates the keys; the match is unused
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from exc
    return selector or None


def open_from_args(args: argparse.Namespace):
    """(model, backend) for the parsed arguments. Model errors propagate (ModelFormatError)."""
    items, notes = expand_cells(args.device, getattr(args, "contract", None))
    selector = parse_selector(items)
    for line in notes:
        note(args, line)
    path = args.model if args.model else synthetic_model(args.preset, args.seed)
    model = open_model(path)
    backend = backends.open_backend(args.backend, model, device=selector, act=args.act)
    return model, backend


def parse_tokens(text: str, vocab_size: int) -> list[int]:
    """ "1,2,3" -> [1, 2, 3], each in 0..vocab_size-1; an empty item ("1,,2") is refused."""
    parts = text.replace(" ", "").split(",")
    if parts == [""]:
        raise UsageError("--tokens: no token ids given")
    if "" in parts:
        raise UsageError(
            f"--tokens {text!r}: empty item at position {parts.index('') + 1}; "
            f"expected comma-separated integer token ids"
        )
    try:
        tokens = [int(t) for t in parts]
    except ValueError:
        raise UsageError(f"--tokens {text!r}: expected comma-separated integer token ids") from None
    bad = [t for t in tokens if not 0 <= t < vocab_size]
    if bad:
        raise UsageError(f"--tokens: id {bad[0]} is outside the model's vocabulary 0..{vocab_size - 1}")
    return tokens


def execute(args: argparse.Namespace, work: Callable[..., dict], print_text: Callable[[Console, dict], None]) -> int:
    """Open the model and backend, run work(model, backend) -> result, close the backend, then
    print the result on stdout (JSON, or print_text on a stdout console). Bad input (arguments,
    model file, token ids, context overflow) exits 2 with the reason; a backend that cannot run
    here exits 3."""
    command = getattr(args, "command", None) or "run"
    try:
        model, backend = open_from_args(args)
        try:
            result = work(model, backend)
        finally:
            backend.close()
    except (ValueError, ModelFormatError, OSError, ContractError) as exc:
        return fail(args, command, f"error: {exc}", EXIT_USAGE)
    except BackendUnavailable as exc:
        return fail(args, command, f"backend unavailable: {exc}", EXIT_UNAVAILABLE)
    if args.format == "json":
        print_json(result)
    else:
        print_text(stdout_console(), result)
    return EXIT_OK
