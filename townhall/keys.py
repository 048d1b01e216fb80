"""The server's two key files, both created on first start with mode 0600 and kept outside the database.

- the QR signing key (Ed25519, PEM): mints the ``KD1`` tokens kioskd verifies with the public half;
- the secret key (32 random bytes): seals PINs the server still has to deliver (AES-GCM) and keys the
  hashes of enrolment codes and PINs (HMAC-SHA256), so a stolen database alone reveals none of them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kioskd.tokens import load_private_key, raw_public_key

SECRET_KEY_BYTES = 32


class KeyFileError(RuntimeError):
    pass


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _check_private(path: Path) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{path}: key file is readable by others (mode {mode:o}); chmod 600 it")


def load_or_create_qr_key(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        _write_new(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return key
    _check_private(path)
    try:
        return load_private_key(str(path))
    except ValueError as exc:
        raise KeyFileError(f"{path}: not an Ed25519 private key in PEM: {exc}") from None


def load_or_create_secret(path: Path) -> bytes:
    path = Path(path)
    if not path.exists():
        _write_new(path, secrets.token_bytes(SECRET_KEY_BYTES))
    _check_private(path)
    data = path.read_bytes()
    if len(data) != SECRET_KEY_BYTES:
        raise KeyFileError(f"{path}: expected {SECRET_KEY_BYTES} bytes of key, found {len(data)}")
    return data


def public_key_b64(private_key: Ed25519PrivateKey) -> str:
    """The ``qr_public_key`` value a kiosk puts in its config (base64 of the raw 32 bytes)."""
    return base64.b64encode(raw_public_key(private_key)).decode("ascii")


class Sealer:
    """Seals short secrets (PINs) for storage and hashes values that must be compared but never read back."""

    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(hmac.digest(secret, b"townhall seal v1", "sha256"))
        self._hash_key = hmac.digest(secret, b"townhall hash v1", "sha256")

    def seal(self, text: str, context: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, text.encode("utf-8"), context.encode("utf-8"))

    def open(self, blob: bytes, context: str) -> str:
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context.encode("utf-8")).decode("utf-8")
        except InvalidTag:
            raise KeyFileError("sealed value does not open with this secret key (key file replaced?)") from None

    def digest(self, purpose: str, text: str) -> str:
        return hmac.new(self._hash_key, f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Kiosk bearer tokens carry 256 random bits, so a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def load_rp_key(path: Path):
    """The town hall's private key as itsme relying party (RSA or EC P-256, PEM), refused when readable by
    others like the server's own key files. It is created by the municipality and its public half registered with
    itsme at onboarding (docs/itsme.md), so it is never generated here."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    path = Path(path)
    if not path.exists():
        raise KeyFileError(f"{path}: itsme private key not found")
    _check_private(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted private key in PEM ({type(exc).__name__})") from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1":
        return key
    raise KeyFileError(f"{path}: the itsme key must be RSA (2048 bits or more) or EC P-256")
