"""Reports that verifiers other than harness accept: securesystemslib's DSSE Envelope.verify
(which matches signatures to keys by keyid) and `openssl pkeyutl -verify` over a PAE built by
hand from the envelope. Each also refuses a tampered payload, so neither check is vacuous."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess

import pytest

from harness.cli import main
from harness.trust import keys
from tests import trust_factory as tf


@pytest.fixture(scope="module")
def signer():
    return keys.generate()


@pytest.fixture
def report(tmp_path, signer):
    contract = tf.contract_copy(tmp_path)
    return tf.write(tmp_path / "r.json", tf.make_predicate(contract), signer)


def _tampered(envelope: dict) -> dict:
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[-2] ^= 0x01
    return {**envelope, "payload": base64.b64encode(bytes(payload)).decode()}


def test_securesystemslib_envelope_verify_accepts_a_harness_report(report, signer):
    sslib = pytest.importorskip("securesystemslib", reason="securesystemslib (test extra) absent")
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    key = SSlibKey.from_crypto(signer.private_key.public_key())  # keyid: the library's own

    def envelope():  # a fresh dict each time: Envelope.from_dict consumes what it is given
        return json.loads(report.read_text())

    accepted = Envelope.from_dict(envelope()).verify([key], 1)
    assert list(accepted) == [signer.keyid] == [key.keyid], sslib.__version__
    with pytest.raises(VerificationError):
        Envelope.from_dict(_tampered(envelope())).verify([key], 1)
    # The old keyid (sha256 of the raw key) is what made the library skip our signature.
    raw_id = hashlib.sha256(bytes.fromhex(key.keyval["public"])).hexdigest()
    with pytest.raises(VerificationError):
        Envelope.from_dict(envelope()).verify([SSlibKey(raw_id, key.keytype, key.scheme, key.keyval)], 1)


def test_keys_export_writes_a_key_dict_securesystemslib_loads(tmp_path, signer, report, capsys):
    pytest.importorskip("securesystemslib", reason="securesystemslib (test extra) absent")
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    pub = tmp_path / "p.pem"
    pub.write_bytes(signer.verifier.public_pem())
    assert main(["keys", "export", str(pub)]) == 0
    exported = json.loads(capsys.readouterr().out)
    ((keyid, key_dict),) = exported.items()
    key = SSlibKey.from_dict(keyid, dict(key_dict))
    assert keyid == signer.keyid
    assert Envelope.from_dict(json.loads(report.read_text())).verify([key], 1)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not on PATH")
def test_openssl_pkeyutl_verifies_the_signature_over_a_hand_built_pae(tmp_path, report, signer):
    openssl = shutil.which("openssl")
    envelope = json.loads(report.read_text())
    payload_type = envelope["payloadType"].encode()
    pub = tmp_path / "p.pem"
    pub.write_bytes(signer.verifier.public_pem())
    sig = tmp_path / "sig.bin"
    sig.write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))

    def openssl_verify(env: dict) -> subprocess.CompletedProcess:
        body = base64.b64decode(env["payload"])
        pae = tmp_path / "pae.bin"  # DSSE protocol.md, written out independently of harness
        pae.write_bytes(b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body))
        return subprocess.run(
            [
                openssl,
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                str(pub),
                "-rawin",
                "-in",
                str(pae),
                "-sigfile",
                str(sig),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = openssl_verify(envelope)  # OpenSSL >= 3.0 (pkeyutl -rawin, Ed25519): Debian 12's 3.0
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout, good.stderr
    bad = openssl_verify(_tampered(envelope))
    assert bad.returncode != 0 and "Successfully" not in bad.stdout
