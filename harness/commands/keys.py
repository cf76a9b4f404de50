"""`harness keys gen`: create an Ed25519 key pair for signing reports.
`harness keys export P.pem`: print the public key as a securesystemslib keys file
({keyid: {keytype, scheme, keyval}}), for verifiers that read keys in that form."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import exit_codes
from harness.commands._output import add_format, fail, print_json
from harness.output_paths import OutputPathError, check_outputs
from harness.trust import keys
from harness.trust.fileio import write_atomic

NAME = "keys"
HELP = "Create Ed25519 signing keys (keys gen --private K.pem --public P.pem) or export one (keys export P.pem)."

EXIT_OK, EXIT_USAGE = exit_codes.OK, exit_codes.USAGE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    gen = sub.add_parser("gen", help="generate a key pair: PKCS8 PEM private key (mode 0600), PEM public key")
    gen.add_argument("--private", required=True, metavar="K.pem", help="private key file to create")
    gen.add_argument("--public", required=True, metavar="P.pem", help="public key file to create")
    gen.add_argument("--force", action="store_true", help="overwrite existing key files")
    add_format(gen)
    export = sub.add_parser(
        "export", help="print a public key as a securesystemslib keys file (JSON {keyid: key dict}) on stdout"
    )
    export.add_argument("public", metavar="P.pem", help="PEM public key")
    add_format(export)  # the keys file is JSON either way


def _export(args: argparse.Namespace) -> int:
    try:
        verifier = keys.load_verifier(args.public)
    except keys.KeyFileError as exc:
        return fail(args, "keys export", str(exc), EXIT_USAGE)
    print(json.dumps({verifier.keyid: keys.key_dict(verifier.public_key)}, indent=2))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if getattr(args, "keys_action", None) == "export":
        return _export(args)
    if getattr(args, "keys_action", None) != "gen":
        return fail(
            args,
            NAME,
            "missing action (try: harness keys gen --private K.pem --public P.pem, or harness keys export P.pem)",
            EXIT_USAGE,
        )
    existing = [p for p in (args.private, args.public) if Path(p).exists()]
    if existing and not args.force:
        return fail(args, "keys gen", f"{existing[0]} exists; refusing to overwrite (use --force)", EXIT_USAGE)
    try:  # the same file twice (links included), a directory, a missing directory
        check_outputs({"--private": args.private, "--public": args.public}, {}, replace_keys=args.force)
    except OutputPathError as exc:
        return fail(args, "keys gen", str(exc), EXIT_USAGE)
    signer = keys.generate()
    try:
        write_atomic(args.private, keys.private_pem(signer), mode=0o600, overwrite=args.force)
        try:
            write_atomic(args.public, signer.verifier.public_pem(), mode=0o644, overwrite=args.force)
        except OSError:
            Path(args.private).unlink()  # never leave half a pair behind
            raise
    except FileExistsError as exc:
        return fail(args, "keys gen", f"{exc}; refusing to overwrite (use --force)", EXIT_USAGE)
    except OSError as exc:
        return fail(args, "keys gen", f"cannot write {exc.filename}: {exc.strerror}", EXIT_USAGE)
    if args.format == "json":
        print_json({"keyid": signer.keyid, "private": str(args.private), "public": str(args.public)})
    else:
        print(f"keyid {signer.keyid}")
    return EXIT_OK
