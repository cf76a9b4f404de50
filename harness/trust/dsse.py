"""DSSE v1 envelopes: sign bytes, verify bytes, parse nothing before the signature holds.

Spec: github.com/secure-systems-lab/dsse (protocol.md, envelope.md). The signature covers
PAE(payloadType, payload); base64 appears only at the wire edge (the envelope dict). The keyid
in a signature is a hint for picking a key, never a reason to trust it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from harness.trust.errors import EnvelopeFormatError, SignatureError, UnsignedEnvelopeError
from harness.trust.keys import Ed25519Verifier

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


class Signer(Protocol):
    keyid: str

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    keyid: str

    def verify(self, signature: bytes, data: bytes) -> None: ...


@dataclass(frozen=True)
class Verified:
    """What verification accepted: the payload bytes, its type and the key that vouched for it."""

    payload: bytes
    payload_type: str
    keyid: str


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding: "DSSEv1 SP len(type) SP type SP len(body) SP body"."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.standard_b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Decode standard or URL-safe base64, padded or not; anything else is an error naming `what`."""
    if not isinstance(text, str):
        raise EnvelopeFormatError(f"{what}: expected a base64 string, got {type(text).__name__}")
    normalised = text.strip().replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeFormatError(f"{what}: not valid base64 ({exc})") from None


def make_envelope(payload: bytes, payload_type: str, signer: Signer | None = None) -> dict:
    """Wrap `payload` in a DSSE envelope; unsigned (`signatures: []`) when `signer` is None."""
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError(f"payload must be bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    signatures = []
    if signer is not None:
        sig = signer.sign(pae(payload_type, payload))
        signatures.append({"keyid": signer.keyid, "sig": b64encode(sig)})
    return {"payloadType": payload_type, "payload": b64encode(payload), "signatures": signatures}


def _fields(envelope: dict) -> tuple[str, bytes, list]:
    if not isinstance(envelope, dict):
        raise EnvelopeFormatError(f"envelope: expected a JSON object, got {type(envelope).__name__}")
    for key in ("payloadType", "payload", "signatures"):
        if key not in envelope:
            raise EnvelopeFormatError(f"envelope: missing field '{key}'")
    payload_type = envelope["payloadType"]
    if not isinstance(payload_type, str):
        raise EnvelopeFormatError("envelope.payloadType: expected a string")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list):
        raise EnvelopeFormatError("envelope.signatures: expected a list")
    return payload_type, b64decode(envelope["payload"], "envelope.payload"), signatures


def _as_verifiers(keys) -> list:
    if isinstance(keys, Ed25519PublicKey):
        return [Ed25519Verifier(keys)]
    if hasattr(keys, "verify") and hasattr(keys, "keyid"):
        return [keys]
    if isinstance(keys, Iterable):
        found = list(keys)
        if found and all(hasattr(k, "verify") for k in found):
            return found
    raise TypeError(
        "public_key must be an Ed25519 public key, a verifier "
        "(harness.trust.keys.Ed25519Verifier) or a list of verifiers"
    )


def _ordered(verifiers: list, hint) -> list:
    # The keyid only decides which key is tried first; every trusted key is still tried.
    return sorted(verifiers, key=lambda v: v.keyid != hint)


def verify(envelope: dict, public_key) -> Verified:
    """Check that some signature verifies over PAE under a trusted key; return what it covers.

    Raises UnsignedEnvelopeError (no signatures), EnvelopeFormatError, or SignatureError. Never
    returns a failure value: the payload is only handed out once a signature holds.
    """
    verifiers = _as_verifiers(public_key)
    payload_type, payload, signatures = _fields(envelope)
    if not signatures:
        raise UnsignedEnvelopeError("envelope is unsigned (signatures: []): it is not evidence")
    message = pae(payload_type, payload)
    for i, entry in enumerate(signatures):
        if not isinstance(entry, dict) or "sig" not in entry:
            raise EnvelopeFormatError(f"envelope.signatures[{i}]: missing field 'sig'")
        sig = b64decode(entry["sig"], f"envelope.signatures[{i}].sig")
        for verifier in _ordered(verifiers, entry.get("keyid")):
            try:
                verifier.verify(sig, message)
            except SignatureError:
                continue
            return Verified(payload=payload, payload_type=payload_type, keyid=verifier.keyid)
    hints = ", ".join(str(s.get("keyid", "?")) for s in signatures if isinstance(s, dict))
    trusted = ", ".join(v.keyid[:16] for v in verifiers)
    raise SignatureError(
        f"no signature verifies over the payload (signatures by keyid {hints or '?'}; "
        f"trusted keys {trusted}): the envelope was altered or signed by another key"
    )


def verify_envelope(envelope: dict, public_key) -> bytes:
    """Verify `envelope` under `public_key` (a verifier or a list of them); return the payload bytes."""
    return verify(envelope, public_key).payload
