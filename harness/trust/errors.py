"""Error types of the trust layer: every refusal is an exception naming what failed."""

from __future__ import annotations


class TrustError(Exception):
    """Base class: a report, key or envelope that cannot be trusted or used."""


class EnvelopeFormatError(TrustError):
    """The envelope is not a DSSE envelope (missing field, wrong type, bad base64)."""


class UnsignedEnvelopeError(TrustError):
    """The envelope carries no signature: it is not evidence."""


class SignatureError(TrustError):
    """No signature in the envelope verifies under any trusted key."""


class KeyFileError(TrustError):
    """A key file is missing, unreadable, not PEM, or not Ed25519."""


class StatementError(TrustError):
    """The verified payload is not a well-formed harness in-toto Statement."""


class PayloadTypeError(StatementError):
    """The signed payload is not an in-toto statement (payloadType)."""


class SubjectMismatchError(StatementError):
    """The statement's subjects disagree with what its predicate records."""


class MergeError(TrustError):
    """Reports that cannot be combined: other contract or revision, or contradicting verdicts."""
