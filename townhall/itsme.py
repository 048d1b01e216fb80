"""The town hall as itsme relying party: CIBA Core 1.0 in poll mode, started from itsme's QR user discovery for
terminals (docs/itsme.md).

Why the town hall and not the kiosk: itsme's client credentials (the RP's private key) and the tokens it hands
out must never sit in a machine standing in the street. The kiosk only asks for a session, shows its QR code and
learns one word: whether the person who confirmed in the app is the reservation's holder (or someone the holder
authorised). The match is made on keyed hashes (``townhall.services.national_number_digest``); the national
number itsme returns is hashed at once and dropped, never logged or stored.

The flow, for one kiosk session:
1. **user discovery**: POST to the OP's user-discovery endpoint (itsme-specific; its URL is in the discovery
   document under ``itsme_user_discovery_endpoint``) → a session handle and the text of the QR code;
2. **backchannel authentication**: POST ``scope=openid service:<code>``, ``login_hint_token=<handle>``,
   ``binding_message``, ``acr_values``, authenticated with ``private_key_jwt`` → ``auth_req_id``, ``expires_in``,
   ``interval``; the request waits at itsme until the citizen scans the QR code and confirms in the app;
3. **token polling** (``grant_type=urn:openid:params:grant-type:ciba``), done when the kiosk polls its session,
   never more often than itsme's ``interval`` (``slow_down`` adds 5 s); then the ``id_token`` is verified;
4. **userinfo** with the access token → the national number claim → keyed hash → match or mismatch.

itsme signs **and encrypts** userinfo (a JWE around a JWS) and may encrypt id_tokens: with ``[itsme]
encryption_key`` configured, a JWE answer is decrypted with it (``RSA-OAEP``/``RSA-OAEP-256``, AES-CBC-HMAC or
AES-GCM, through joserfc) and the JWS inside is verified exactly like a signed answer; anything else in a JWE
ends the session ``unavailable``.

Live sessions are kept in memory (``townhall serve`` is one process; see docs/itsme.md): they last two minutes
and only the outcome matters afterwards, which goes to the ``itsme_sessions`` table. Tokens live only in the
local variables of the poll that received them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from townhall.config import ItsmeConfig, secure_url
from townhall.keys import KeyFileError, load_rp_key

log = logging.getLogger(__name__)

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
USER_DISCOVERY_KEY = "itsme_user_discovery_endpoint"  # the discovery document's key for it (docs/itsme.md)
AUTH_REQ_ID_CLAIM = "urn:openid:params:jwt:claim:auth_req_id"
SIGNING_ALGORITHMS = ("RS256", "PS256", "ES256")  # what the RP accepts from the OP
KEY_ENCRYPTION_ALGORITHMS = ("RSA-OAEP", "RSA-OAEP-256")  # JWE "alg" accepted (itsme's default: RSA-OAEP)
CONTENT_ENCRYPTION_ALGORITHMS = ("A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM")  # JWE "enc" accepted
ENCRYPTION_JWK_ALGORITHM = "RSA-OAEP-256"  # the "alg" published with the RP's encryption key
DISCOVERY_TTL = 3600.0
CLOCK_SKEW = 60  # seconds of tolerance on iat/exp between the town hall and the OP
MAX_ANSWER_BYTES = 256 * 1024
ANSWER_SECONDS = 3  # an answer must arrive whole within this many times [itsme] timeout_seconds
POLL_SECONDS = 2  # how often the kiosk is told to ask; itsme itself is asked only every `interval`
SLOW_DOWN_SECONDS = 5
FAILURES_BEFORE_UNAVAILABLE = 3  # transient errors in a row while polling before the session gives up
KEEP_FINISHED_SECONDS = 600  # a finished session's outcome stays readable this long
FINAL = ("match", "mismatch", "rejected", "expired", "cancelled", "unavailable")


class ItsmeUnavailable(Exception):
    """itsme cannot be used now: not configured, unreachable, or it refused us (the reason is for the log)."""


class ProtocolError(ItsmeUnavailable):
    """The OP answered, but not as the protocol says (or refused the client): waiting will not help."""


# ---- JOSE helpers, shared with the protocol double ---------------------------------------------------------

def signing_algorithm(private_key) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES256"
    raise TypeError("an RSA or EC private key is needed")


def _public_members(private_key) -> tuple[dict, str]:
    """The public JWK members only (never ``d``, ``p``, ``q``…) and their RFC 7638 thumbprint."""
    algorithm = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {m: jwk[m] for m in members}, thumbprint


def public_jwk(private_key, kid: str = "") -> dict:
    """The public half as a JWK (``kid``: the RFC 7638 thumbprint unless given) — what is registered with itsme."""
    jwk, thumbprint = _public_members(private_key)
    return jwk | {"kid": kid or thumbprint, "use": "sig", "alg": signing_algorithm(private_key)}


def encryption_jwk(private_key, kid: str = "") -> dict:
    """The public half of the RP's decryption key (RSA) as a JWK with ``use: enc``: the OP encrypts to it."""
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError("an RSA private key is needed")
    jwk, thumbprint = _public_members(private_key)
    return jwk | {"kid": kid or thumbprint, "use": "enc", "alg": ENCRYPTION_JWK_ALGORITHM}


def rp_jwks(signing_key, encryption_key=None, *, key_id: str = "", encryption_key_id: str = "") -> dict:
    """The RP's public JWK set, what a municipality registers with itsme (``townhall itsme-jwks``): the signing
    key (``use: sig``) and, when there is one, the encryption key (``use: enc``). Public members only."""
    keys = [public_jwk(signing_key, key_id)]
    if encryption_key is not None:
        keys.append(encryption_jwk(encryption_key, encryption_key_id))
    return {"keys": keys}


def load_encryption_key(path, signing_key=None) -> rsa.RSAPrivateKey:
    """The RP's private decryption key (PEM, RSA ≥ 2048), refused like the signing key when readable by others,
    and refused when it is the signing key itself (one key, one use). Raises ``townhall.keys.KeyFileError``."""
    path = Path(path)
    if not path.exists():
        raise KeyFileError(f"{path}: itsme encryption key not found")
    key = load_rp_key(path)  # mode 0600 and PEM checked there
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path}: the itsme encryption key must be RSA (2048 bits or more)")
    if signing_key is not None and signing_key.public_key().public_numbers() == key.public_key().public_numbers():
        raise KeyFileError(f"{path}: the itsme encryption key must not be the signing key (private_key)")
    return key


def load_rp_keys(config: ItsmeConfig) -> tuple:
    """(signing key, encryption key or None) from the ``[itsme]`` configuration; raises KeyFileError."""
    signing = load_rp_key(config.private_key)
    encryption = load_encryption_key(config.encryption_key, signing) if config.encryption_key else None
    return signing, encryption


def configured_jwks(config: ItsmeConfig) -> dict:
    """The public JWK set of the configured RP keys (``townhall itsme-jwks``)."""
    signing, encryption = load_rp_keys(config)
    return rp_jwks(signing, encryption, key_id=config.key_id, encryption_key_id=config.encryption_key_id)


def _b64_json(segment: str):
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except RecursionError:  # nested deeper than Python's parser goes: not a header of ours
        raise ValueError("nested too deeply") from None


def decrypt_nested(token: str, key: RSAKey, what: str) -> str:
    """The JWS inside a compact JWE (nested JWT, OIDC Core 16.14): the header's ``alg``/``enc`` must be among the
    accepted ones, no compression, and what it carries must be a compact JWS. Raises ``ProtocolError`` with a
    reason that never contains the content."""
    try:
        header = _b64_json(token.split(".", 1)[0])
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"{what}: the JWE header is unreadable") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"{what}: the JWE header is unreadable")
    alg, enc = header.get("alg"), header.get("enc")
    if alg not in KEY_ENCRYPTION_ALGORITHMS or enc not in CONTENT_ENCRYPTION_ALGORITHMS:
        raise ProtocolError(f"{what}: JWE alg {str(alg)[:20]!r} / enc {str(enc)[:20]!r} not accepted")
    if "zip" in header:
        raise ProtocolError(f"{what}: compressed JWE not accepted")
    try:
        plaintext = jwe.decrypt_compact(token, key, algorithms=[alg, enc]).plaintext
    except (JoseError, ValueError, TypeError) as exc:
        raise ProtocolError(f"{what}: the JWE does not decrypt with the RP's key ({type(exc).__name__})") from None
    try:
        inner = (plaintext or b"").decode("ascii").strip()
    except UnicodeDecodeError:
        inner = ""
    if inner.count(".") != 2 or not all(inner.split(".")[:2]):
        raise ProtocolError(f"{what}: the JWE does not carry a signed JWT")
    return inner


def verify_jws(token: str, jwks: dict, *, audience: str | None, issuer: str | None, now: float,
               algorithms=SIGNING_ALGORITHMS, require=("exp", "iat")) -> dict:
    """Check a JWT's signature against a JWK set and its times against ``now`` (the caller's clock, not the
    system's: tests and the double run on a settable clock). Raises ``jwt.InvalidTokenError``."""
    header = jwt.get_unverified_header(token)
    if header.get("alg") not in algorithms:
        raise jwt.InvalidAlgorithmError(f"algorithm {header.get('alg')!r} not accepted")
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("use", "sig") == "sig"]
    if header.get("kid") is not None:
        keys = [k for k in keys if k.get("kid") == header["kid"]]
    if not keys:
        raise jwt.InvalidKeyError("no key of the JWK set matches the token's kid")
    last: Exception = jwt.InvalidSignatureError("no key verified the signature")
    for candidate in keys:
        try:  # a key of the set that is malformed or of another type is skipped, not the end of the search
            key = jwt.PyJWK.from_dict(candidate, algorithm=header["alg"]).key
        except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
            last = exc
            continue
        try:
            claims = jwt.decode(token, key=key, algorithms=[header["alg"]], audience=audience, issuer=issuer,
                                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                         "verify_aud": audience is not None, "verify_iss": issuer is not None,
                                         "require": list(require)})
        except (jwt.InvalidSignatureError, jwt.InvalidKeyError) as exc:
            last = exc
            continue
        break
    else:
        raise last if isinstance(last, jwt.InvalidTokenError) else jwt.InvalidKeyError(str(last))
    if "exp" in claims and not (isinstance(claims["exp"], int | float) and claims["exp"] > now - CLOCK_SKEW):
        raise jwt.ExpiredSignatureError("the token has expired")
    if "iat" in claims and not (isinstance(claims["iat"], int | float) and claims["iat"] < now + CLOCK_SKEW):
        raise jwt.ImmatureSignatureError("the token was issued in the future")
    if "nbf" in claims and not (isinstance(claims["nbf"], int | float) and claims["nbf"] < now + CLOCK_SKEW):
        raise jwt.ImmatureSignatureError("the token is not valid yet")
    return claims


# ---- the protocol client -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Endpoints:
    issuer: str
    user_discovery: str
    backchannel: str
    token: str
    userinfo: str
    jwks_uri: str


@dataclass(frozen=True)
class Discovery:
    handle: str  # refers to the discovery session in the backchannel request's login_hint_token
    qr: str
    expires_in: float


@dataclass(frozen=True)
class Pending:
    auth_req_id: str
    expires_in: float
    interval: float


class ItsmeClient:
    """One relying party talking to one OP: every request signed with the RP's key (``private_key_jwt``)."""

    def __init__(self, config: ItsmeConfig, private_key, *, encryption_key=None,
                 clock: Callable[[], float] = time.time, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self.issuer = config.issuer.rstrip("/")
        self._key = private_key
        self._jwk = public_jwk(private_key, config.key_id)
        self._decryption_key = None if encryption_key is None else RSAKey.import_key(encryption_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self._clock = clock
        self._http = httpx.Client(timeout=config.timeout_seconds, follow_redirects=False, transport=transport,
                                  headers={"Accept": "application/json"})
        self._lock = threading.Lock()
        self._endpoints: Endpoints | None = None
        self._endpoints_at = 0.0
        self._jwks: dict | None = None

    def close(self) -> None:
        self._http.close()

    # -- plumbing

    def _answer(self, method: str, url: str, **kwargs) -> httpx.Response:
        """The OP's answer, read as it streams in: one that says or turns out to be over ``MAX_ANSWER_BYTES``
        is dropped at that point (never read whole into memory), one that trickles in for longer than
        ``ANSWER_SECONDS`` × the timeout too. Only https:// (or loopback http://) URLs are asked."""
        path = urlsplit(url).path
        if not secure_url(url):
            raise ProtocolError(f"{path}: not an https:// URL")
        deadline = time.monotonic() + ANSWER_SECONDS * self.config.timeout_seconds
        try:
            with self._http.stream(method, url, **kwargs) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                    raise ProtocolError(f"{path}: answer of {int(declared)} bytes")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise ProtocolError(f"{path}: answer of more than {MAX_ANSWER_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise ItsmeUnavailable(f"{path}: the answer takes too long to arrive")
        except httpx.HTTPError as exc:
            raise ItsmeUnavailable(f"{path}: {type(exc).__name__}") from None
        if response.status_code >= 500:
            raise ItsmeUnavailable(f"{path}: HTTP {response.status_code}")
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=response.request)

    @staticmethod
    def _json(response: httpx.Response, what: str) -> dict:
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested absurdly deep
            body = None
        if not isinstance(body, dict):
            raise ProtocolError(f"{what}: HTTP {response.status_code}, answer is not a JSON object")
        return body

    def endpoints(self) -> Endpoints:
        """From the OP's discovery document, fetched at first use and again after an hour."""
        with self._lock:
            if self._endpoints is not None and self._clock() - self._endpoints_at < DISCOVERY_TTL:
                return self._endpoints
        if not secure_url(self.issuer):
            raise ProtocolError("discovery: the issuer is not an https:// URL")
        body = self._json(self._answer("GET", f"{self.issuer}/.well-known/openid-configuration"), "discovery")
        if not isinstance(body.get("issuer"), str) or body["issuer"].rstrip("/") != self.issuer:
            raise ProtocolError("discovery: the document names another issuer")
        names = {"user_discovery": USER_DISCOVERY_KEY, "backchannel": "backchannel_authentication_endpoint",
                 "token": "token_endpoint", "userinfo": "userinfo_endpoint", "jwks_uri": "jwks_uri"}
        urls = {field_: body.get(key) for field_, key in names.items()}
        missing = [names[f] for f, url in urls.items() if not isinstance(url, str) or not url]
        if missing:
            raise ProtocolError(f"discovery: no {', '.join(missing)}")
        insecure = [names[f] for f, url in urls.items() if not secure_url(url)]
        if insecure:
            raise ProtocolError(f"discovery: {', '.join(insecure)} not an https:// URL")
        modes = body.get("backchannel_token_delivery_modes_supported", ["poll"])
        if not isinstance(modes, list) or "poll" not in modes:
            raise ProtocolError("discovery: the OP does not offer CIBA poll mode")
        endpoints = Endpoints(issuer=self.issuer, **urls)
        with self._lock:
            self._endpoints, self._endpoints_at = endpoints, self._clock()
        return endpoints

    def jwks(self, *, refresh: bool = False) -> dict:
        with self._lock:
            if self._jwks is not None and not refresh:
                return self._jwks
        body = self._json(self._answer("GET", self.endpoints().jwks_uri), "jwks")
        if not isinstance(body.get("keys"), list):
            raise ProtocolError("jwks: no list of keys")
        with self._lock:
            self._jwks = body
        return body

    def client_assertion(self) -> str:
        """``private_key_jwt`` (RFC 7523): a short-lived JWT signed with the RP's key, one per request."""
        now = int(self._clock())
        claims = {"iss": self.config.client_id, "sub": self.config.client_id, "aud": self.issuer,
                  "jti": secrets.token_urlsafe(24), "iat": now, "exp": now + 60}
        return jwt.encode(claims, self._key, algorithm=self._jwk["alg"], headers={"kid": self._jwk["kid"]})

    def _authenticated(self, extra: dict) -> dict:
        return {"client_id": self.config.client_id, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion()} | extra

    def _refused(self, response: httpx.Response, what: str) -> ProtocolError:
        error = ""
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                error = body["error"][:60]
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
        return ProtocolError(f"{what}: HTTP {response.status_code} {error or '(no error code)'}")

    def _open(self, token: str, what: str) -> str:
        """A JWS as it is; a JWE (five parts) decrypted with the RP's encryption key to the JWS it must carry."""
        if token.count(".") != 4:
            return token
        if self._decryption_key is None:
            raise ProtocolError(f"{what}: encrypted (JWE), but no [itsme] encryption_key is configured")
        return decrypt_nested(token, self._decryption_key, what)

    # -- the four steps

    def start_discovery(self) -> Discovery:
        url = self.endpoints().user_discovery
        response = self._answer("POST", url, data=self._authenticated({"scope": self._scope()}))
        if response.status_code != 200:
            raise self._refused(response, "user discovery")
        body = self._json(response, "user discovery")
        handle, qr, expires = body.get("session"), body.get("qr"), body.get("expires_in")
        if not (isinstance(handle, str) and 0 < len(handle) <= 512 and isinstance(qr, str) and 0 < len(qr) <= 2048
                and isinstance(expires, int | float) and not isinstance(expires, bool) and expires > 0):
            raise ProtocolError("user discovery: session, qr or expires_in missing or malformed")
        return Discovery(handle, qr, float(expires))

    def backchannel(self, login_hint_token: str, binding_message: str) -> Pending:
        url = self.endpoints().backchannel
        response = self._answer("POST", url, data=self._authenticated({
            "scope": self._scope(), "login_hint_token": login_hint_token, "binding_message": binding_message,
            "acr_values": self.config.acr_values}))
        if response.status_code != 200:
            raise self._refused(response, "backchannel authentication")
        body = self._json(response, "backchannel authentication")
        auth_req_id, expires, interval = body.get("auth_req_id"), body.get("expires_in"), body.get("interval", 5)
        if not (isinstance(auth_req_id, str) and 0 < len(auth_req_id) <= 512
                and all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (expires, interval))):
            raise ProtocolError("backchannel authentication: auth_req_id, expires_in or interval malformed")
        return Pending(auth_req_id, float(expires), float(interval))

    def poll(self, auth_req_id: str) -> tuple[str, dict]:
        """One token request: ("pending" | "slow_down" | "expired" | "rejected", {}) or ("tokens", answer)."""
        url = self.endpoints().token
        response = self._answer("POST", url, data=self._authenticated({"grant_type": CIBA_GRANT,
                                                                        "auth_req_id": auth_req_id}))
        body = self._json(response, "token")
        if response.status_code == 200:
            if not isinstance(body.get("id_token"), str) or not isinstance(body.get("access_token"), str):
                raise ProtocolError("token: id_token or access_token missing")
            return "tokens", body
        error = body.get("error")
        outcome = {"authorization_pending": "pending", "slow_down": "slow_down", "expired_token": "expired",
                   "access_denied": "rejected"}.get(error if isinstance(error, str) else "")
        if response.status_code == 400 and outcome:
            return outcome, {}
        raise self._refused(response, "token")

    def _verified(self, token: str, what: str, require: tuple[str, ...]) -> dict:
        """A JWS from the OP checked against its JWKS, fetched again once for an unknown kid (the OP may have
        rotated its keys); ``ProtocolError`` naming ``what`` otherwise."""
        for refresh in (False, True):
            try:
                return verify_jws(token, self.jwks(refresh=refresh), audience=self.config.client_id,
                                  issuer=self.issuer, now=self._clock(), require=require)
            except jwt.InvalidKeyError:
                if refresh:
                    raise ProtocolError(f"{what}: signed with a key the OP does not publish") from None
            except jwt.PyJWTError as exc:
                raise ProtocolError(f"{what}: {type(exc).__name__}") from None
            except RecursionError:
                raise ProtocolError(f"{what}: nested too deeply") from None
        raise AssertionError("unreachable")

    def verify_id_token(self, id_token: str, auth_req_id: str) -> dict:
        """OIDC Core 3.1.3.7 as CIBA uses it: signature against the OP's JWKS (fetched again once for an unknown
        kid: the OP may have rotated), iss, aud (and azp when several), exp, iat; no nonce in CIBA; ``acr`` one
        of the ``acr_values`` asked for (a lower level of assurance is refused). An encrypted id_token (JWE) is
        decrypted first."""
        id_token = self._open(id_token, "id_token")
        claims = self._verified(id_token, "id_token", ("iss", "sub", "aud", "exp", "iat"))
        acr = claims.get("acr")
        if not isinstance(acr, str) or acr not in self.config.acr_values.split():
            shown = repr(acr[:80]) if isinstance(acr, str) else "missing"
            raise ProtocolError(f"id_token: acr {shown} is not the level asked for ({self.config.acr_values})")
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.config.client_id:
            raise ProtocolError("id_token: several audiences and azp is not this client")
        if AUTH_REQ_ID_CLAIM in claims and claims[AUTH_REQ_ID_CLAIM] != auth_req_id:
            raise ProtocolError("id_token: issued for another authentication request")
        return claims

    def userinfo(self, access_token: str, subject: str) -> dict:
        """The claims of the person who confirmed: plain JSON, or a JWT answer (application/jwt) — signed, or
        signed then encrypted (JWE around a JWS, as itsme answers) — whose signature is verified."""
        response = self._answer("GET", self.endpoints().userinfo,
                                headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise self._refused(response, "userinfo")
        if response.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
            claims = self._verified(self._open(response.text.strip(), "userinfo"), "userinfo", ("sub",))
        else:
            claims = self._json(response, "userinfo")
        if claims.get("sub") != subject:
            raise ProtocolError("userinfo: sub differs from the id_token's")
        return claims

    def _scope(self) -> str:
        return f"openid service:{self.config.service_code}"


# ---- sessions ------------------------------------------------------------------------------------------------

@dataclass
class LiveSession:
    id: str
    kiosk_id: str
    reservation_id: str
    auth_req_id: str
    expires_at: float
    interval: float
    next_poll_at: float
    status: str = "pending"
    failures: int = 0
    finished_at: float | None = None
    busy: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Started:
    session_id: str
    qr: str
    expires_at: datetime
    poll_seconds: int = POLL_SECONDS


class SessionNotFound(LookupError):
    pass


class SessionTable:
    """The live sessions of this process, behind one lock (the API's handlers run in a thread pool); a session's
    own lock keeps two polls of it from asking itsme at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, LiveSession] = {}

    def add(self, session: LiveSession) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def add_superseding(self, session: LiveSession) -> list[LiveSession]:
        """Add ``session`` and return the other pending sessions of its kiosk, which it supersedes (a kiosk runs
        one at a time), in one step under the lock: of two starts racing, the later to arrive here supersedes
        the other, so no two stay pending. The caller ends them."""
        with self._lock:
            earlier = [s for s in self._sessions.values()
                       if s.kiosk_id == session.kiosk_id and s.status == "pending" and s.id != session.id]
            self._sessions[session.id] = session
        return earlier

    def get(self, session_id: str, kiosk_id: str) -> LiveSession:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None or not secrets.compare_digest(session.kiosk_id, kiosk_id):
            raise SessionNotFound(session_id)
        return session

    def of_kiosk(self, kiosk_id: str) -> list[LiveSession]:
        with self._lock:
            return [s for s in self._sessions.values() if s.kiosk_id == kiosk_id and s.status == "pending"]

    def purge(self, now: float) -> None:
        with self._lock:
            for key in [k for k, s in self._sessions.items()
                        if s.finished_at is not None and now - s.finished_at > KEEP_FINISHED_SECONDS
                        or now - s.expires_at > KEEP_FINISHED_SECONDS]:
                del self._sessions[key]


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
