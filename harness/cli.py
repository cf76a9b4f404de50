"""`harness` command line: one module per subcommand in harness/commands/.

Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int (the exit code).
Exit codes (docs/architecture.md "CLI"): 0 ok, 1 falsified, 2 usage/contract error, 3 inconclusive,
4 internal error, 5 audit failure.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from harness import __version__, commands

EXIT_OK, EXIT_FALSIFIED, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_INTERNAL, EXIT_AUDIT = 0, 1, 2, 3, 4, 5


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        yield importlib.import_module(f"harness.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
