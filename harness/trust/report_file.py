"""Report files on disk: read an envelope, verify it, parse its statement; write a signed one.

A report file is a DSSE envelope as JSON. Its identity (cited by merge and promote) is the sha256
of the file's bytes, so readers keep the bytes they hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.trust import dsse, statement as st
from harness.trust.errors import EnvelopeFormatError, PayloadTypeError
from harness.trust.fileio import write_atomic


@dataclass(frozen=True)
class Report:
    """A report whose signature verified and whose statement has the agreed shape."""

    path: Path
    sha256: str  # of the envelope file's bytes
    keyid: str  # the trusted key that verified it
    statement: dict

    @property
    def predicate(self) -> dict:
        return self.statement["predicate"]


def read_envelope(path: str | os.PathLike) -> tuple[dict, bytes]:
    """The envelope dict and the file's raw bytes; nothing inside the payload is parsed."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise EnvelopeFormatError(f"{path}: cannot read report ({exc.strerror})") from None
    try:
        envelope = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeFormatError(f"{path}: not a JSON DSSE envelope ({exc})") from None
    return envelope, raw


def verify_payload(envelope: dict, verifiers) -> dsse.Verified:
    """Signature first, then the payload type (an in-toto statement is all a report may carry)."""
    verified = dsse.verify(envelope, verifiers)
    if verified.payload_type != dsse.INTOTO_PAYLOAD_TYPE:
        raise PayloadTypeError(f"payloadType is {verified.payload_type!r}, expected {dsse.INTOTO_PAYLOAD_TYPE!r}")
    return verified


def open_report(path: str | os.PathLike, verifiers) -> Report:
    """Read, verify (before parsing), parse and shape-check one report file."""
    envelope, raw = read_envelope(path)
    verified = verify_payload(envelope, verifiers)
    statement = st.parse_payload(verified.payload)
    st.check_shape(statement)
    st.check_subjects_match(statement)
    return Report(Path(path), hashlib.sha256(raw).hexdigest(), verified.keyid, statement)


def envelope_bytes(statement: dict, signer) -> bytes:
    """The file bytes of a report: canonical statement, wrapped (and signed when signer is given)."""
    envelope = dsse.make_envelope(st.canonical(statement), dsse.INTOTO_PAYLOAD_TYPE, signer)
    return (json.dumps(envelope, indent=2) + "\n").encode("ascii")


def write_report(path: str | os.PathLike, statement: dict, signer) -> str:
    """Write the report atomically; returns the sha256 of the bytes written."""
    data = envelope_bytes(statement, signer)
    write_atomic(path, data)
    return hashlib.sha256(data).hexdigest()
