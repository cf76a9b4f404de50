"""`harness completion bash|zsh`: print a shell completion script (made by shtab from the
argument parser itself, so it never drifts from the commands).

    harness completion bash > ~/.local/share/bash-completion/completions/harness
    harness completion zsh > "${fpath[1]}/_harness"
"""

from __future__ import annotations

import argparse
import sys

import shtab

NAME = "completion"
HELP = "print a bash or zsh completion script for harness on stdout"
SHELLS = ("bash", "zsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def run(args: argparse.Namespace) -> int:
    from harness.cli import build_parser  # here: cli imports every command module at start

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return 0
