"""DSSE envelope: PAE spec vector, sign/verify round trip, and every way verification refuses."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from harness.trust import dsse, keys
from harness.trust.errors import EnvelopeFormatError, SignatureError, UnsignedEnvelopeError


@pytest.fixture(scope="module")
def signer():
    return keys.generate()


def test_pae_matches_dsse_spec_vector():
    # DSSE protocol.md test vector, written out by hand from the spec.
    got = dsse.pae("http://example.com/HelloWorld", b"hello world")
    assert got == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_counts_bytes_not_characters():
    got = dsse.pae("t/\u00e9", b"\x00\xff")
    assert got == b"DSSEv1 4 t/\xc3\xa9 2 \x00\xff"


def test_make_envelope_unsigned_has_no_signatures():
    env = dsse.make_envelope(b"{}", "application/x")
    assert env == {"payloadType": "application/x", "payload": "e30=", "signatures": []}


def test_verify_envelope_round_trip_returns_payload(signer):
    env = dsse.make_envelope(b"payload \xff bytes", dsse.INTOTO_PAYLOAD_TYPE, signer)
    assert env["signatures"][0]["keyid"] == signer.keyid
    assert dsse.verify_envelope(env, signer.verifier) == b"payload \xff bytes"


def test_verify_envelope_signature_is_over_pae(signer):
    env = dsse.make_envelope(b"abc", "t", signer)
    sig = base64.b64decode(env["signatures"][0]["sig"])
    signer.verifier.verify(sig, dsse.pae("t", b"abc"))  # raises if not over PAE
    with pytest.raises(SignatureError):
        signer.verifier.verify(sig, b"abc")


def test_verify_envelope_accepts_urlsafe_unpadded_base64(signer):
    payload = bytes(range(250, 256)) * 3  # encodes with '+' / '/' characters
    env = dsse.make_envelope(payload, "t", signer)
    assert "/" in env["payload"] or "+" in env["payload"]
    env["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    env["signatures"][0]["sig"] = env["signatures"][0]["sig"].replace("+", "-").replace("/", "_")
    assert dsse.verify_envelope(env, signer.verifier) == payload


def test_verify_envelope_refuses_flipped_payload_byte(signer):
    env = dsse.make_envelope(b'{"a": 1}', "t", signer)
    raw = bytearray(base64.b64decode(env["payload"]))
    raw[3] ^= 0x01
    env["payload"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureError, match="no signature verifies"):
        dsse.verify_envelope(env, signer.verifier)


def test_verify_envelope_refuses_changed_payload_type(signer):
    env = dsse.make_envelope(b"x", "application/vnd.in-toto+json", signer)
    env["payloadType"] = "application/json"
    with pytest.raises(SignatureError):
        dsse.verify_envelope(env, signer.verifier)


def test_verify_envelope_refuses_unsigned(signer):
    with pytest.raises(UnsignedEnvelopeError, match="unsigned"):
        dsse.verify_envelope(dsse.make_envelope(b"x", "t"), signer.verifier)


def test_verify_envelope_refuses_other_key(signer):
    env = dsse.make_envelope(b"x", "t", keys.generate())
    with pytest.raises(SignatureError):
        dsse.verify_envelope(env, signer.verifier)


def test_verify_envelope_keyid_is_only_a_hint(signer):
    env = dsse.make_envelope(b"x", "t", signer)
    env["signatures"][0]["keyid"] = "not-the-real-id"
    other = keys.generate().verifier
    assert dsse.verify_envelope(env, [other, signer.verifier]) == b"x"
    forged = dsse.make_envelope(b"x", "t", keys.generate())
    forged["signatures"][0]["keyid"] = signer.keyid  # claiming a trusted id proves nothing
    with pytest.raises(SignatureError):
        dsse.verify_envelope(forged, signer.verifier)


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"payload": "e30=", "signatures": []}, "payloadType"),
        ({"payloadType": "t", "signatures": []}, "'payload'"),
        ({"payloadType": "t", "payload": "e30=", "signatures": {}}, "signatures"),
        ({"payloadType": "t", "payload": "e3!0", "signatures": [{"sig": "AA=="}]}, "base64"),
        ({"payloadType": "t", "payload": "e30=", "signatures": [{"keyid": "k"}]}, "'sig'"),
    ],
)
def test_verify_envelope_names_malformed_field(signer, broken, message):
    with pytest.raises(EnvelopeFormatError, match=message):
        dsse.verify_envelope(broken, signer.verifier)


def test_keyid_is_securesystemslib_default_keyid(signer):
    # securesystemslib's compute_default_keyid, spelled out: sha256 of the sorted, compact JSON
    # of the key dict (tests/test_trust_interop.py checks it against the library itself).
    raw = signer.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    text = '{"keytype":"ed25519","keyval":{"public":"%s"},"scheme":"ed25519"}' % raw.hex()
    assert signer.keyid == hashlib.sha256(text.encode()).hexdigest()
    assert signer.keyid != hashlib.sha256(raw).hexdigest()  # not the old raw-key id


def test_verify_envelope_accepts_raw_cryptography_public_key(signer):
    env = dsse.make_envelope(b"x", "t", signer)
    assert dsse.verify_envelope(env, signer.private_key.public_key()) == b"x"
