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

Signature hashes: RSA identity signatures are accepted with SHA-256 and, deliberately, SHA-1. Older RSA
cards (applet 1.7 and before) are documented to sign the identity file with SHA-1, and refusing them would call
a genuine card forged. The risk SHA-1 leaves is a collision, which needs the register to sign content the
forger chose in advance; the register signs files it builds from its own records, and a second preimage of
SHA-1 is out of reach. Which hash real cards still in circulation use must be confirmed with real cards.

The RRN certificate must also be what it claims: an end-entity certificate (basicConstraints absent or
CA=false) whose key usage includes digitalSignature or nonRepudiation, issued by a root that is a CA.

Chip authentication (``verify_authentication_certificate``, ``verify_challenge_signature``): the files above
are readable without a PIN, so a programmable card replaying a genuine card's public files passes the checks
above. What a clone cannot replay is a signature over a fresh challenge made with the card's authentication
key, whose private half never leaves a genuine chip. Its certificate (DF00/5038) must chain through the
citizen CA (DF00/503A, a CA) to a trusted root, be valid now, allow digitalSignature, and name in its subject
``serialNumber`` the national register number of the identity file: that binds chip, person and file. The
APDUs that obtain the signature are in ``kioskd.drivers.eid_card``; on applet 1.7 cards the key needs the PIN.

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
from cryptography.x509.oid import NameOID

from kioskd.eid import IdentityFileError, tlv_content_length

SHIPPED_ROOTS = Path(__file__).parent / "data" / "eid_roots"
"""The Belgian root CA certificates shipped with kioskd (see its README.md for their fingerprints)."""

ROOT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
P384_RAW_SIGNATURE = 96  # r||s, 48 bytes each
# What a malformed certificate raises when a lazily parsed field is read (issuer, version, extensions, key).
_PARSE_ERRORS = (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm)


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
    ``identity_file``; raises CardForged otherwise (a malformed certificate included: never anything else)."""
    moment = _as_datetime(now)
    rrn = _load_certificate(rrn_certificate, "national register certificate")
    try:
        _require_end_entity(rrn, "national register certificate", digital_signature=True, non_repudiation=True)
        root = _issuing_root(rrn, roots, "national register certificate")
        _check_validity(rrn, moment, "national register certificate")
        _check_validity(root, moment, "root certificate")
        _verify_identity_signature(rrn, bytes(identity_file), bytes(signature))
    except _PARSE_ERRORS:  # a field only parsed now (a root's too): malformed is not genuine
        raise CardForged("a certificate in the chain is malformed") from None
    return rrn


def verify_authentication_certificate(authentication_certificate: bytes, citizen_ca_certificate: bytes,
                                      national_number: str, roots: list[x509.Certificate],
                                      now: datetime | float) -> x509.Certificate:
    """The card's authentication certificate (DF00/5038), once it is proven to chain through the citizen CA
    (DF00/503A) to one of ``roots`` at ``now`` and to name ``national_number`` (the identity file's) as its
    subject serialNumber; raises CardForged otherwise."""
    moment = _as_datetime(now)
    certificate = _load_certificate(authentication_certificate, "authentication certificate")
    ca = _load_certificate(citizen_ca_certificate, "citizen CA certificate")
    try:
        _require_end_entity(certificate, "authentication certificate", digital_signature=True)
        _require_ca(ca, "citizen CA certificate")
        if certificate.issuer != ca.subject:
            raise CardForged("authentication certificate is not issued by the card's citizen CA")
        _verify_certificate_signature(ca, certificate, "authentication certificate")
        root = _issuing_root(ca, roots, "citizen CA certificate")
        _check_validity(certificate, moment, "authentication certificate")
        _check_validity(ca, moment, "citizen CA certificate")
        _check_validity(root, moment, "root certificate")
        numbers = [a.value for a in certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
        if numbers != [national_number]:
            raise CardForged("authentication certificate names another person than the identity file")
    except _PARSE_ERRORS:
        raise CardForged("a certificate in the chain is malformed") from None
    return certificate


def verify_challenge_signature(certificate: x509.Certificate, challenge: bytes, signature: bytes) -> None:
    """The chip's signature over ``challenge`` with its authentication key: RSA PKCS#1 v1.5 over SHA-256, or
    ECDSA over SHA-384 (raw r||s as the card answers, or DER). Raises CardForged."""
    try:
        key = certificate.public_key()
    except _PARSE_ERRORS:
        raise CardForged("authentication certificate has an unsupported key") from None
    if isinstance(key, rsa.RSAPublicKey):
        algorithm: hashes.HashAlgorithm = hashes.SHA256()
    elif isinstance(key, ec.EllipticCurvePublicKey):
        algorithm = hashes.SHA384()
        size = (key.curve.key_size + 7) // 8
        if len(signature) == 2 * size:
            signature = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                             int.from_bytes(signature[size:], "big"))
    else:
        raise CardForged("authentication certificate has an unsupported key type")
    if not signature:
        raise CardForged("the chip returned no signature")
    try:
        _verify(key, bytes(signature), bytes(challenge), algorithm)
    except CardForged:
        raise CardForged("the chip's signature over the challenge does not verify: not a genuine chip") from None


def _load_certificate(der: bytes, what: str) -> x509.Certificate:
    """A DER certificate with every field the checks read parsed now, so a malformed one fails here."""
    try:
        certificate = x509.load_der_x509_certificate(bytes(der))
        certificate.version  # noqa: B018 - lazily parsed fields raise on first access
        certificate.issuer  # noqa: B018
        certificate.subject  # noqa: B018
        certificate.extensions  # noqa: B018
        certificate.not_valid_before_utc  # noqa: B018
        certificate.not_valid_after_utc  # noqa: B018
    except _PARSE_ERRORS:
        raise CardForged(f"{what} is not a valid X.509 certificate") from None
    return certificate


def _require_ca(certificate: x509.Certificate, what: str) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CardForged(f"{what} is not a CA certificate") from None
    if not constraints.ca:
        raise CardForged(f"{what} is not a CA certificate")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise CardForged(f"{what} may not sign certificates")


def _require_end_entity(certificate: x509.Certificate, what: str, *, digital_signature: bool = False,
                        non_repudiation: bool = False) -> None:
    """Not a CA, and its key usage (which must be present) allows one of the usages asked for."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        raise CardForged(f"{what} is a CA certificate, not the card's")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise CardForged(f"{what} has no key usage") from None
    if not ((digital_signature and usage.digital_signature) or (non_repudiation and usage.content_commitment)):
        raise CardForged(f"{what} is not a signing certificate")


def _as_datetime(now: datetime | float) -> datetime:
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=UTC)
    return datetime.fromtimestamp(now, UTC)


def _issuing_root(certificate: x509.Certificate, roots: list[x509.Certificate], what: str) -> x509.Certificate:
    """The trusted root (a CA) whose name and key issued ``certificate``; raises CardForged."""
    if not roots:
        raise CardForged("no trusted eID root configured")
    named = [root for root in roots if root.subject == certificate.issuer]
    if not named:
        raise CardForged(f"{what} is not issued by a trusted root")
    for root in named:
        try:
            _verify_certificate_signature(root, certificate, what)
        except CardForged:
            continue
        _require_ca(root, "root certificate")
        return root
    raise CardForged(f"{what}'s signature does not verify with the trusted root")


def _verify_certificate_signature(issuer: x509.Certificate, certificate: x509.Certificate, what: str) -> None:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    try:
        key = issuer.public_key()
    except _PARSE_ERRORS:
        raise CardForged(f"{what}'s issuer has an unsupported key") from None
    try:
        _verify(key, certificate.signature, certificate.tbs_certificate_bytes, algorithm)
    except CardForged:
        raise CardForged(f"{what}'s signature does not verify with its issuer's key") from None


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
