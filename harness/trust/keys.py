"""Ed25519 keys: signer/verifier objects, PEM loading, and key-pair creation.

keyid = the default keyid securesystemslib (and so TUF and in-toto) computes for an Ed25519 key:
hex sha256 of the canonical JSON of its key dict {keytype, scheme, keyval: {public: hex}}, so
`securesystemslib.dsse.Envelope.verify`, which matches signatures to keys by keyid, accepts our
reports. `key_dict` is that key dict, the form `harness keys export` publishes. Private keys
are PKCS8 PEM files written with mode 0600 from the moment they exist; a private key file that
group or others may read is refused when loaded (POSIX only).
"""

from __future__ import annotations

import hashlib
import os

import rfc8785
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness import settings
from harness.trust.errors import KeyFileError, SignatureError

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_dict(public_key: Ed25519PublicKey) -> dict:
    """The securesystemslib key dict of an Ed25519 public key (keyval.public: raw key, hex)."""
    return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": public_key.public_bytes(*_RAW).hex()}}


def keyid_of(public_key: Ed25519PublicKey) -> str:
    """Hex sha256 of the key dict's canonical JSON (securesystemslib's compute_default_keyid;
    for these ASCII-only dicts its canonical form and RFC 8785's are the same bytes)."""
    return hashlib.sha256(rfc8785.dumps(key_dict(public_key))).hexdigest()


class Ed25519Verifier:
    """Verifies Ed25519 signatures; raises SignatureError, never returns False."""

    def __init__(self, public_key: Ed25519PublicKey):
        self.public_key = public_key
        self.keyid = keyid_of(public_key)

    def verify(self, signature: bytes, data: bytes) -> None:
        try:
            self.public_key.verify(signature, data)
        except InvalidSignature:
            raise SignatureError(f"signature does not verify under key {self.keyid[:16]}") from None

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class Ed25519Signer:
    """Signs bytes with an Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self.private_key = private_key
        self.verifier = Ed25519Verifier(private_key.public_key())
        self.keyid = self.verifier.keyid

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def signer_from_pem(pem: bytes, source: str) -> Ed25519Signer:
    """Parse a PKCS8 PEM private key; `source` names where it came from in errors."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{source}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{source}: expected an Ed25519 private key, got {type(key).__name__}")
    return Ed25519Signer(key)


def verifier_from_pem(pem: bytes, source: str) -> Ed25519Verifier:
    """Parse a PEM public key (SubjectPublicKeyInfo); `source` names where it came from."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{source}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{source}: expected an Ed25519 public key, got {type(key).__name__}")
    return Ed25519Verifier(key)


def _read(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read key file ({exc.strerror})") from None


def _load_private(path: str | os.PathLike, source: str) -> Ed25519Signer:
    """The signer in a private key file; refused when group or others may read the file."""
    signer = signer_from_pem(_read(path), source)
    if os.name == "posix":
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            raise KeyFileError(
                f"{source}: private key file has mode {mode:03o}, readable by others; run: chmod 600 {path}"
            )
    return signer


def load_verifier(path: str | os.PathLike) -> Ed25519Verifier:
    return verifier_from_pem(_read(path), str(path))


def load_verifiers(paths) -> list[Ed25519Verifier]:
    """One verifier per public key file; an empty list is an error (nothing would be trusted)."""
    verifiers = [load_verifier(p) for p in paths or ()]
    if not verifiers:
        raise KeyFileError("no public key given (--pubkey P.pem): nothing to verify against")
    return verifiers


def load_signer(path: str | os.PathLike | None) -> Ed25519Signer | None:
    """The signing key for `harness verify`: the file at `path`, else the environment, else None.

    None means the report is written unsigned; a throwaway key is never made up.
    """
    if path is not None:
        return _load_private(path, str(path))
    pem = settings.signing_key_pem()
    if pem is not None:
        return signer_from_pem(pem, "$HARNESS_SIGNING_KEY")
    env_path = settings.signing_key_path()
    if env_path is not None:
        return _load_private(env_path, f"{env_path} ($HARNESS_SIGNING_KEY_FILE)")
    return None


def generate() -> Ed25519Signer:
    return Ed25519Signer(Ed25519PrivateKey.generate())


def private_pem(signer: Ed25519Signer) -> bytes:
    return signer.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
