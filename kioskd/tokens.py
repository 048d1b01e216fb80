"""Compact QR tokens signed by the town hall with Ed25519.

``KD1.<payload>.<signature>``, both parts base64url without padding; the payload is compact JSON
``{"r": reservation, "k": kiosk, "e": expiry (epoch s), "j": one-time id}``. The kiosk holds only the
public key, so a stolen kiosk cannot mint codes. The one-time id is spent in the same transaction
as the release, so a photographed code works once.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX = "KD1"
MAX_TOKEN_LENGTH = 512


class TokenError(Exception):
    """A token that must be refused; ``reason`` is what the citizen is told (malformed, forged, …)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Token:
    reservation_id: str
    kiosk_id: str
    expires_at: float
    token_id: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(private_key: Ed25519PrivateKey, reservation_id: str, kiosk_id: str, expires_at: float,
         token_id: str | None = None) -> str:
    payload = json.dumps(
        {"r": reservation_id, "k": kiosk_id, "e": int(expires_at), "j": token_id or secrets.token_hex(8)},
        separators=(",", ":"),
    ).encode()
    body = f"{PREFIX}.{_b64encode(payload)}"
    return f"{body}.{_b64encode(private_key.sign(body.encode('ascii')))}"


def verify(public_key: Ed25519PublicKey, text: str, kiosk_id: str, now: float) -> Token:
    """Check signature, kiosk and expiry offline; raise TokenError with the reason otherwise."""
    if len(text) > MAX_TOKEN_LENGTH or not text.isascii():
        raise TokenError("malformed", "not a kioskd token")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("malformed", "not a kioskd token")
    body = f"{parts[0]}.{parts[1]}"
    try:
        signature = _b64decode(parts[2])
        payload_bytes = _b64decode(parts[1])
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed", f"bad base64: {exc}") from None
    try:
        public_key.verify(signature, body.encode("ascii"))
    except InvalidSignature:
        raise TokenError("forged", "signature does not verify") from None
    try:
        payload = json.loads(payload_bytes)
        token = Token(str(payload["r"]), str(payload["k"]), float(payload["e"]), str(payload["j"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError("malformed", f"signed payload unreadable: {exc}") from None
    if token.kiosk_id != kiosk_id:
        raise TokenError("wrong_kiosk", f"token is for kiosk {token.kiosk_id!r}")
    if token.expires_at <= now:
        raise TokenError("token_expired", "token has expired")
    return token


def load_private_key(path: str) -> Ed25519PrivateKey:
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def raw_public_key(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
