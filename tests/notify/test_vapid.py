"""VAPID keys load from what operators have, and signed headers are cached, never stale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from py_vapid.jwt import decode

from notify.vapid import (
    MAX_JWT_LIFETIME_S,
    InvalidVapidKeyError,
    VapidSigner,
    b64url_decode,
    generate_vapid_key,
    vapid_key_from_file,
    vapid_key_from_pem,
    vapid_key_from_raw,
)

SUBJECT = "mailto:bousai@city.example.jp"


def test_the_application_server_key_is_an_unpadded_uncompressed_point() -> None:
    key = generate_vapid_key()
    text = key.application_server_key
    assert "=" not in text
    assert len(b64url_decode(text)) == 65
    assert b64url_decode(text)[0] == 4


def test_pem_and_raw_forms_round_trip(tmp_path: Path) -> None:
    key = generate_vapid_key()
    pem_file, raw_file = tmp_path / "vapid.pem", tmp_path / "vapid.txt"
    pem_file.write_bytes(key.private_pem())
    raw_file.write_text(key.private_raw() + "\n")
    loaded = [
        vapid_key_from_pem(key.private_pem()),
        vapid_key_from_raw(key.private_raw()),
        vapid_key_from_file(pem_file),
        vapid_key_from_file(raw_file),
    ]
    assert {k.application_server_key for k in loaded} == {key.application_server_key}


def test_a_sec1_pem_from_openssl_loads() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    sec1 = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert vapid_key_from_pem(sec1).public_bytes == generate_from(private)


def generate_from(private: ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_py_vapid_keys_load_and_agree() -> None:
    theirs = Vapid02()
    theirs.generate_keys()
    ours = vapid_key_from_pem(theirs.private_pem())
    assert ours.public_bytes == generate_from(theirs.private_key)


def test_wrong_curves_and_garbage_are_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidVapidKeyError, match="P-256"):
        vapid_key_from_pem(p384)
    with pytest.raises(InvalidVapidKeyError):
        vapid_key_from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InvalidVapidKeyError, match="32 bytes"):
        vapid_key_from_raw("AAAA")
    with pytest.raises(InvalidVapidKeyError):
        vapid_key_from_raw("A" * 43)  # the scalar 0 is not a key


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _claims(header: str, signer: VapidSigner) -> dict[str, object]:
    token = header.split("t=", 1)[1].split(",", 1)[0]
    assert header.endswith(f", k={signer.key.application_server_key}")
    return decode(token, signer.key.application_server_key)


def test_headers_are_cached_per_origin_and_renewed_before_expiry() -> None:
    clock = FakeClock(1_700_000_000.0)
    signer = VapidSigner(
        generate_vapid_key(), subject=SUBJECT, lifetime_s=7200, refresh_before_s=600, clock=clock
    )
    fcm = signer.authorization("https://fcm.googleapis.com")
    assert signer.authorization("https://fcm.googleapis.com") is fcm
    mozilla = signer.authorization("https://updates.push.services.mozilla.com")
    assert _claims(fcm, signer) == {
        "aud": "https://fcm.googleapis.com",
        "exp": 1_700_007_200,
        "sub": SUBJECT,
    }
    assert _claims(mozilla, signer)["aud"] == "https://updates.push.services.mozilla.com"
    clock.now += 7200 - 601
    assert signer.authorization("https://fcm.googleapis.com") is fcm
    clock.now += 2
    renewed = signer.authorization("https://fcm.googleapis.com")
    assert renewed != fcm
    exp = _claims(renewed, signer)["exp"]
    assert isinstance(exp, int)
    assert clock.now < exp <= clock.now + MAX_JWT_LIFETIME_S


def test_the_jwt_header_is_es256() -> None:
    signer = VapidSigner(generate_vapid_key(), subject="https://city.example.jp/contact")
    token = signer.authorization("https://web.push.apple.com").split("t=", 1)[1].split(",")[0]
    assert json.loads(b64url_decode(token.split(".")[0])) == {"typ": "JWT", "alg": "ES256"}


@pytest.mark.parametrize(
    ("subject", "lifetime_s", "refresh_before_s"),
    [
        ("bousai@city.example.jp", 3600, 60),
        ("http://city.example.jp", 3600, 60),
        (SUBJECT, MAX_JWT_LIFETIME_S + 1, 60),
        (SUBJECT, 3600, 3600),
        (SUBJECT, 3600, 0),
    ],
)
def test_bad_signer_settings_are_refused(
    subject: str, lifetime_s: int, refresh_before_s: int
) -> None:
    with pytest.raises(ValueError, match=r"VAPID subject|lifetime_s"):
        VapidSigner(
            generate_vapid_key(),
            subject=subject,
            lifetime_s=lifetime_s,
            refresh_before_s=refresh_before_s,
        )
