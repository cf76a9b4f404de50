"""`harness` command line: one module per subcommand in harness/commands/.

Each module defines NAME, HELP, add_arguments(parser) and run(args) -> int (the exit code).
Exit codes are harness.exit_codes (0 ok, 1 falsified, 2 usage/contract/input error,
3 inconclusive, 4 internal error, 5 audit failure, 130 interrupted).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import tempfile
import traceback

from harness import __version__, commands, exit_codes

EXIT_OK, EXIT_FALSIFIED, EXIT_USAGE = exit_codes.OK, exit_codes.FALSIFIED, exit_codes.USAGE
EXIT_INCONCLUSIVE, EXIT_INTERNAL, EXIT_AUDIT = (exit_codes.INCONCLUSIVE, exit_codes.INTERNAL, exit_codes.AUDIT)


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        yield importlib.import_module(f"harness.commands.{info.name}")


QUIET_HELP = "no progress or notes on stderr (errors still show)"


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage error under `--format json` is also a JSON error object on
    stdout, like every other failure (harness/commands/_output.py)."""

    json_errors = False

    def error(self, message):
        if _Parser.json_errors:
            command = self.prog.partition(" ")[2] or self.prog
            print(json.dumps({"error": {"command": command, "message": message, "exit_code": EXIT_USAGE}}, indent=2))
        super().error(message)


def _asks_json(argv: list[str]) -> bool:
    return "--format=json" in argv or any(a == "--format" and b == "json" for a, b in zip(argv, argv[1:]))


def _leaf_parsers(parser: argparse.ArgumentParser):
    """The parsers that take a command's own options (those without further subcommands)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _leaf_parsers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
        for leaf in _leaf_parsers(p):  # `harness verify C --quiet` as well as `harness -q verify C`
            leaf.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
    return parser


def _quiet_wgpu_environment() -> None:
    """Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" when it is missing;
    give them a private per-user directory (mode 0700) so that noise never reaches the user."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if os.name != "posix" or (current and os.path.isdir(current)):
        return
    private = os.path.join(tempfile.gettempdir(), f"harness-xdg-{os.getuid()}")
    try:
        os.makedirs(private, mode=0o700, exist_ok=True)
        info = os.stat(private)
    except OSError:
        return
    if info.st_uid == os.getuid() and (info.st_mode & 0o077) == 0:  # ours, and only ours
        os.environ["XDG_RUNTIME_DIR"] = private


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _Parser.json_errors = _asks_json(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _quiet_wgpu_environment()
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print(f"harness {args.command}: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()  # `harness ... | head`: the reader left; nothing is wrong
        return EXIT_OK
    except Exception:  # a crash: say so with the traceback, never as "falsified"
        traceback.print_exc()
        print(
            f"harness {args.command}: internal error (exit {EXIT_INTERNAL}); please report the traceback above",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
