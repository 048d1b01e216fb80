"""The per-kiosk secret key and keyed hashes of credentials.

PINs (and later national register numbers) are stored only as HMAC-SHA256 under a key that lives in
its own file, outside the database: a copied database alone reveals no PIN, and 10^8 PINs cannot
be brute-forced from it without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

KEY_BYTES = 32


class KeyFileError(Exception):
    pass


def load_or_create_key(path: str | Path) -> bytes:
    """Read the kiosk key, creating it (mode 0600, exclusive create) on first start."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path}: kiosk key is readable by others (mode {mode:o}); chmod 600 it")
    data = path.read_bytes()
    if len(data) != KEY_BYTES:
        raise KeyFileError(f"{path}: kiosk key must be {KEY_BYTES} bytes, found {len(data)}")
    return data


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC of a credential, domain-separated by kind so a PIN digest never matches another kind."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
