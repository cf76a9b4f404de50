"""`harness import pv UPSTREAM.yaml --out contracts/NAME.yaml`: a pv contract as a harness one.

Keeps the upstream name, version, status (as text), amendment history, equations and
obligations; maps each falsification test it recognises to the template contract's falsifier
(thresholds from the obligation's tolerance); lists everything else as `todo` entries, which
`harness validate` reports as warnings. The output is checked (schema + lint) before it is
written, atomically; it never replaces the upstream file or the template, nor an existing file
without --force. Exit codes: 0 written, 2 bad input or output path, 4 the importer produced an
invalid contract (a bug: nothing is written).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from contracts import CONTRACT_DIR
from harness import exit_codes
from harness.contract.errors import ERROR, ContractError
from harness.contract.loader import check_document, load_contract
from harness.importers.pv_build import build_document, to_yaml
from harness.importers.pv_read import PvFormatError, read_pv
from harness.trust.fileio import write_atomic

NAME = "import"
HELP = "import an upstream contract (pv: paiml/aprender provable-contracts) as a harness contract"
DEFAULT_TEMPLATE = CONTRACT_DIR / "qwen3-moe-forward-gpu-v1.yaml"
EXIT_OK, EXIT_USAGE, EXIT_INTERNAL = exit_codes.OK, exit_codes.USAGE, exit_codes.INTERNAL


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="import_format", metavar="FORMAT", required=True)
    pv = sub.add_parser(
        "pv",
        help="a pv contract (metadata, equations, proof_obligations, falsification_tests, kani_harnesses, qa_gate)",
    )
    pv.add_argument("upstream", type=Path, metavar="UPSTREAM.yaml")
    pv.add_argument("--out", type=Path, required=True, metavar="OUT.yaml")
    pv.add_argument(
        "--template",
        type=Path,
        default=DEFAULT_TEMPLATE,
        metavar="CONTRACT",
        help="harness contract whose falsifiers, models, prompts and devices the "
        f"mapped tests use (default {DEFAULT_TEMPLATE.name})",
    )
    pv.add_argument("--force", action="store_true", help="replace an existing OUT.yaml")
    pv.add_argument("--format", choices=("text", "json"), default="text")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def run(args) -> int:
    out, upstream = args.out, args.upstream
    for other, what in ((upstream, "the upstream contract"), (args.template, "the template")):
        if _same(out, other):
            return _fail(f"--out {out} is {what}; it would be overwritten", EXIT_USAGE)
    if out.exists() and not args.force:
        return _fail(f"--out {out} exists; pass --force to replace it", EXIT_USAGE)
    try:
        pv = read_pv(upstream)
        template = load_contract(args.template)
        doc, notes = build_document(pv, template, out, dt.date.today().isoformat())
    except (PvFormatError, OSError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except ContractError as exc:
        return _fail(f"template: {exc}", EXIT_USAGE)
    issues = check_document(doc, str(out))
    errors = [i for i in issues if i.severity == ERROR]
    if errors:
        return _fail(
            "the imported contract is invalid (an importer bug; nothing written):\n" + "\n".join(map(str, errors)),
            EXIT_INTERNAL,
        )
    header = [
        f"Imported by `harness import pv` from {upstream.name} ({pv.name} {pv.version}).",
        "Falsifier thresholds, models, prompts and devices: see the comments and todo.",
        "Nothing from the upstream file is executed; its `test:` commands are comments.",
    ]
    try:
        write_atomic(out, to_yaml(doc, notes, header).encode("utf-8"), overwrite=args.force)
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc}", EXIT_USAGE)
    summary = {
        "out": str(out),
        "name": doc["name"],
        "version": doc["version"],
        "falsifiers": [f["id"] for f in doc["falsifiers"]],
        "todo": [t["id"] for t in doc.get("todo", [])],
    }
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"wrote {out}: {len(summary['falsifiers'])} falsifiers, {len(summary['todo'])} todo "
            f"(harness validate {out} lists them)",
            file=sys.stderr,
        )
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"harness import: {message}", file=sys.stderr)
    return code
