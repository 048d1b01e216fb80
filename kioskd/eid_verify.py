"""Is this identity file the one the national register signed? The check that makes an eID worth trusting.

Anyone can write a smart card that answers the eID's APDUs with made-up files, so reading the identity file
proves nothing by itself. What a forger cannot make is the national register's signature (file 4032) over
the identity file (4031): it is made with the key of the national register ("RRN") certificate (DF00/503C),
and that certificate is issued directly by a Belgian root CA (Belgium Root CA2/CA3/CA4 with RSA, CA6 with
ECDSA P-384). So: the RRN certificate must carry a valid signature of a trusted root and be within its
validity period, and the identity file must carry a valid signature of the RRN certificate's key.

Signature formats, by card generation: applet 1.7 cards sign with RSA PKCS#1 v1.5 (SHA-1 on the oldest,
SHA-256 since); applet 1.8 cards with ECDSA P-384 / SHA-384, stored as the raw 96-byte r||s (a DER
signature is accepted as well).

What is signed: the identity file's content as stored. READ BINARY returns exactly the file's length,
so the bytes as read are checked first. Applet 1.8 cards store the file in a fixed-size, zero-padded
area; when the check over the bytes as read fails and zero padding follows the last TLV field, the same
check is made once more over the fields without the padding. That cannot let anything unsigned through:
``parse_tlv`` stops at the padding, so the fields the kiosk uses are exactly the signed ones.

No certificate revocation is checked: the kiosk works offline (design rule 6), and an RRN certificate is a
government key, not the citizen's. The card's own expiry and whom it belongs to are the runner's business.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from kioskd.eid import IdentityFileError, tlv_content_length

SHIPPED_ROOTS = Path(__file__).parent / "data" / "eid_roots"
"""The Belgian root CA certificates shipped with kioskd (see its README.md for their fingerprints)."""

ROOT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
P384_RAW_SIGNATURE = 96  # r||s, 48 bytes each


class CardForged(Exception):
    """The card's files do not carry a valid national register signature; ``reason`` says which check failed
    (never any personal data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RootsError(ValueError):
    """A trusted-roots directory holds something that is not a certificate; ``str`` names the file."""


def load_roots(directory: str | Path = SHIPPED_ROOTS) -> list[x509.Certificate]:
    """Every certificate in ``directory``'s *.pem, *.crt, *.cer and *.der files (PEM or DER, a PEM file may
    hold several), sorted by file name. Raises RootsError naming a file that is not a certificate and when
    the directory does not exist. An empty list is allowed: then every card is refused as forged."""
    folder = Path(directory)
    if not folder.is_dir():
        raise RootsError(f"{folder}: trusted eID roots directory does not exist")
    roots: list[x509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in ROOT_SUFFIXES or not path.is_file():
            continue
        data = path.read_bytes()
        try:
            if b"-----BEGIN CERTIFICATE-----" in data:
                roots.extend(x509.load_pem_x509_certificates(data))
            else:
                roots.append(x509.load_der_x509_certificate(data))
        except ValueError as exc:
            raise RootsError(f"{path}: not an X.509 certificate ({exc})") from None
    return roots


def verify_identity(identity_file: bytes, signature: bytes, rrn_certificate: bytes,
                    roots: list[x509.Certificate], now: datetime | float) -> x509.Certificate:
    """The RRN certificate, once it is proven to chain to one of ``roots`` at ``now`` and to have signed
    ``identity_file``; raises CardForged otherwise."""
    moment = _as_datetime(now)
    try:
        rrn = x509.load_der_x509_certificate(bytes(rrn_certificate))
    except ValueError:
        raise CardForged("national register certificate is not a valid X.509 certificate") from None
    root = _issuing_root(rrn, roots, moment)
    _check_validity(rrn, moment, "national register certificate")
    _check_validity(root, moment, "root certificate")
    _verify_identity_signature(rrn, bytes(identity_file), bytes(signature))
    return rrn


def _as_datetime(now: datetime | float) -> datetime:
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=UTC)
    return datetime.fromtimestamp(now, UTC)


def _issuing_root(rrn: x509.Certificate, roots: list[x509.Certificate], moment: datetime) -> x509.Certificate:
    if not roots:
        raise CardForged("no trusted eID root configured")
    named = [root for root in roots if root.subject == rrn.issuer]
    if not named:
        raise CardForged("national register certificate is not issued by a trusted root")
    try:
        algorithm = rrn.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    for root in named:
        try:
            _verify(root.public_key(), rrn.signature, rrn.tbs_certificate_bytes, algorithm)
        except CardForged:
            continue
        return root
    raise CardForged("national register certificate's signature does not verify with the trusted root")


def _check_validity(certificate: x509.Certificate, moment: datetime, what: str) -> None:
    if moment < certificate.not_valid_before_utc:
        raise CardForged(f"{what} is not yet valid")
    if moment > certificate.not_valid_after_utc:
        raise CardForged(f"{what} has expired")


def _verify_identity_signature(rrn: x509.Certificate, identity_file: bytes, signature: bytes) -> None:
    try:
        key = rrn.public_key()
    except (UnsupportedAlgorithm, ValueError):
        raise CardForged("national register certificate has an unsupported key") from None
    if isinstance(key, rsa.RSAPublicKey):
        candidates: list[hashes.HashAlgorithm] = [hashes.SHA256(), hashes.SHA1()]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        candidates = [hashes.SHA384()]
        if len(signature) == P384_RAW_SIGNATURE:
            half = P384_RAW_SIGNATURE // 2
            signature = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                              int.from_bytes(signature[half:], "big"))
    else:
        raise CardForged("national register certificate has an unsupported key type")
    if not signature:
        raise CardForged("identity file carries no signature")
    messages = [identity_file]
    try:
        unpadded = identity_file[:tlv_content_length(identity_file)]
    except IdentityFileError:
        unpadded = identity_file
    if unpadded != identity_file:
        messages.append(unpadded)
    for message in messages:
        for algorithm in candidates:
            try:
                _verify(key, signature, message, algorithm)
            except CardForged:
                continue
            return
    raise CardForged("identity file's signature does not verify with the national register certificate")


def _verify(key: object, signature: bytes, message: bytes, algorithm: hashes.HashAlgorithm | None) -> None:
    """One signature check, RSA PKCS#1 v1.5 or ECDSA; every way of failing is a CardForged."""
    if algorithm is None:
        raise CardForged("certificate signature uses an unsupported algorithm")
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(algorithm))
        else:
            raise CardForged("unsupported key type")
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        raise CardForged("signature does not verify") from None
