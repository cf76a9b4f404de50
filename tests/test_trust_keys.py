"""Keys: `harness keys gen` files and modes, load_signer from a file or the environment."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.cli import main
from harness.trust import dsse, keys
from harness.trust.errors import KeyFileError


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv("HARNESS_SIGNING_KEY", raising=False)
    monkeypatch.delenv("HARNESS_SIGNING_KEY_FILE", raising=False)


def gen(tmp_path, *extra):
    return main(["keys", "gen", "--private", str(tmp_path / "k.pem"), "--public", str(tmp_path / "p.pem"), *extra])


def test_keys_gen_private_key_mode_0600(tmp_path):
    assert gen(tmp_path) == 0
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600
    assert (tmp_path / "k.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_keys_gen_pair_signs_and_verifies(tmp_path):
    assert gen(tmp_path) == 0
    signer = keys.load_signer(tmp_path / "k.pem")
    env = dsse.make_envelope(b"x", "t", signer)
    assert dsse.verify_envelope(env, keys.load_verifier(tmp_path / "p.pem")) == b"x"


def test_keys_gen_refuses_overwrite_without_force(tmp_path, capsys):
    assert gen(tmp_path) == 0
    before = (tmp_path / "k.pem").read_bytes()
    assert gen(tmp_path) == 2
    assert "exists" in capsys.readouterr().err
    assert (tmp_path / "k.pem").read_bytes() == before
    assert gen(tmp_path, "--force") == 0
    assert (tmp_path / "k.pem").read_bytes() != before
    assert stat.S_IMODE(os.stat(tmp_path / "k.pem").st_mode) == 0o600


def test_keys_gen_leaves_no_half_pair(tmp_path):
    (tmp_path / "p.pem").write_text("someone's public key")
    assert gen(tmp_path) == 2
    assert not (tmp_path / "k.pem").exists()


def test_load_signer_none_without_key_means_unsigned():
    assert keys.load_signer(None) is None


def test_load_signer_reads_environment_pem(monkeypatch):
    signer = keys.generate()
    monkeypatch.setenv("HARNESS_SIGNING_KEY", keys.private_pem(signer).decode())
    assert keys.load_signer(None).keyid == signer.keyid


def test_load_signer_reads_environment_file(monkeypatch, tmp_path):
    signer = keys.generate()
    (tmp_path / "k.pem").write_bytes(keys.private_pem(signer))
    (tmp_path / "k.pem").chmod(0o600)  # a group/world-readable private key is refused
    monkeypatch.setenv("HARNESS_SIGNING_KEY_FILE", str(tmp_path / "k.pem"))
    assert keys.load_signer(None).keyid == signer.keyid


def test_load_signer_names_bad_file(tmp_path):
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(KeyFileError, match="bad.pem"):
        keys.load_signer(tmp_path / "bad.pem")
    with pytest.raises(KeyFileError, match="missing.pem"):
        keys.load_signer(tmp_path / "missing.pem")


def test_load_signer_refuses_non_ed25519(tmp_path):
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    with pytest.raises(KeyFileError, match="Ed25519"):
        keys.load_signer(tmp_path / "ec.pem")


def test_load_verifiers_refuses_empty_list():
    with pytest.raises(KeyFileError, match="no public key"):
        keys.load_verifiers([])
