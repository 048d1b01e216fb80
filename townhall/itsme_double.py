"""A protocol double of itsme as OpenID Provider, for tests and ``make demo``: the discovery document, JWKS, the
QR user discovery for terminals, CIBA backchannel authentication (poll mode), the token and userinfo endpoints.

It is strict where the real OP is strict, so the town hall's relying-party code is tested against the protocol,
not against itself: every request must carry a ``private_key_jwt`` client assertion signed with the key
registered for the client (the RP's public JWKS given at construction; a wrong key, a replayed ``jti``, a wrong
``aud``/``iss``/``sub`` or an expired assertion give ``401 invalid_client``); the token endpoint answers the CIBA
errors with their HTTP codes (``400 authorization_pending``, ``slow_down`` — also when polled faster than the
interval, which then grows by 5 s —, ``expired_token``, ``access_denied``); id_tokens are signed with the
double's own RSA key, published at its ``jwks_uri``. Given the RP's encryption key (``encrypt_to``: the RP's
public JWK with ``use: enc``), it answers userinfo as production itsme does, a JWE around the signed JWT
(``application/jwt``), and with ``encrypt_id_token`` encrypts the id_token the same way.

What the citizen does in the app is driven from outside: the Python methods ``scan``, ``confirm``, ``reject``,
``expire`` (and ``slow_down_next``, ``fail_next``), or the same under ``/_double/…`` over HTTP for the demo. A
session is named by its discovery handle, by the QR text the kiosk shows, or left out (the newest one).
``forge_userinfo_signature()`` makes it sign userinfo with a key it does not publish, ``rotate_userinfo_key()``
with a new key it publishes at once; id_tokens carry the ``acr`` the RP asked for unless ``answer_acr(...)``
(default: a lower level) says otherwise; ``answer_next(path, body)`` answers the next request to ``path`` with
``body`` as it is (a malformed answer).

Not for production: the ``/_double`` endpoints are unauthenticated and it holds everything in memory.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from joserfc import jwe
from joserfc.jwk import RSAKey

from townhall.itsme import (
    ASSERTION_TYPE,
    AUTH_REQ_ID_CLAIM,
    CIBA_GRANT,
    KEY_ENCRYPTION_ALGORITHMS,
    USER_DISCOVERY_KEY,
    public_jwk,
    rp_jwks,
    signing_algorithm,
    verify_jws,
)

DEFAULT_CLAIM = "http://itsme.services/v2/claim/BENationalNumber"
ACR_BASIC = "http://itsme.services/v2/claim/acr_basic"  # a lower level of assurance than the RP asks
DEFAULT_KEY_ENCRYPTION = "RSA-OAEP"  # itsme's documented default, used unless the RP's JWK names another
DEFAULT_CONTENT_ENCRYPTION = "A128CBC-HS256"


@dataclass
class DiscoverySession:
    handle: str
    qr: str
    expires_at: float
    scanned: bool = False
    auth_req_id: str | None = None


@dataclass
class AuthRequest:
    auth_req_id: str
    client_id: str
    handle: str
    expires_at: float
    interval: float
    binding_message: str
    acr_values: str
    state: str = "pending"  # pending | confirmed | rejected | expired | delivered
    national_number: str | None = None
    last_poll: float | None = None


class DoubleError(RuntimeError):
    """A test-control call that makes no sense now (no such session, confirming before the scan)."""


class ItsmeDouble:
    def __init__(self, issuer: str, *, client_id: str, client_jwks: dict, service_code: str,
                 clock: Callable[[], float] = time.time, interval: float = 5.0, lifetime: float = 180.0,
                 claim: str = DEFAULT_CLAIM, signed_userinfo: bool = False, encrypt_to: dict | None = None,
                 encrypt_id_token: bool = False, key_encryption: str | None = None,
                 content_encryption: str = DEFAULT_CONTENT_ENCRYPTION) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id, self.client_jwks, self.service_code = client_id, client_jwks, service_code
        self.clock, self.interval, self.lifetime, self.claim = clock, interval, lifetime, claim
        self.signed_userinfo = signed_userinfo or encrypt_to is not None  # encrypted userinfo is signed first
        self.encrypt_id_token = encrypt_id_token and encrypt_to is not None
        self._encrypt_to: RSAKey | None = None
        self._encrypt_kid = ""
        self.key_encryption, self.content_encryption = key_encryption, content_encryption
        if encrypt_to is not None:  # the RP's registered encryption key: public members only
            self._encrypt_to = RSAKey.import_key({m: encrypt_to[m] for m in ("kty", "n", "e")})
            self._encrypt_kid = str(encrypt_to.get("kid", ""))
            if key_encryption is None:
                named = encrypt_to.get("alg")
                self.key_encryption = named if named in KEY_ENCRYPTION_ALGORITHMS else DEFAULT_KEY_ENCRYPTION
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwk = public_jwk(self._key)
        self._forger: rsa.RSAPrivateKey | None = None  # signs userinfo instead of _key (forge_userinfo_signature)
        self._published: list[dict] = [self.jwk]  # the JWKS; rotate_userinfo_key adds its key
        self._acr: str | None = None  # answer_acr: the acr put in id_tokens instead of the one asked for
        self._raw: dict[str, tuple[bytes, str]] = {}  # answer_next: path -> the next answer's body, content type
        self._lock = threading.Lock()
        self.sessions: dict[str, DiscoverySession] = {}
        self.requests: dict[str, AuthRequest] = {}
        self._access: dict[str, tuple[str, str, float]] = {}  # token -> (sub, national number, expiry)
        self._jtis: set[str] = set()
        self._slow_down = 0
        self._fail = 0
        self.token_polls: list[float] = []  # when the token endpoint was asked (the double's clock)
        self.refusals: list[str] = []  # why requests were refused (for tests)
        self.app = self._build_app()
        self.stop: Callable[[], None] = lambda: None
        self.townhall_section: dict = {}  # set by start_itsme_double

    # ---- test controls -----------------------------------------------------------------------------------

    def _find(self, session: str | None) -> DiscoverySession:
        if session is None:
            if not self.sessions:
                raise DoubleError("no discovery session yet")
            return list(self.sessions.values())[-1]
        for candidate in self.sessions.values():
            if session in (candidate.handle, candidate.qr):
                return candidate
        raise DoubleError("no such discovery session")

    def _request_of(self, session: str | None) -> AuthRequest:
        found = self._find(session)
        if found.auth_req_id is None:
            raise DoubleError("no backchannel authentication request for this session yet")
        return self.requests[found.auth_req_id]

    def scan(self, session: str | None = None) -> str:
        """The citizen scans the kiosk's QR code with the app; returns the discovery handle."""
        with self._lock:
            found = self._find(session)
            found.scanned = True
            return found.handle

    def confirm(self, national_number: str, session: str | None = None) -> None:
        """The scanning citizen, whose national number is ``national_number``, confirms in the app."""
        with self._lock:
            if not self._find(session).scanned:
                raise DoubleError("confirm before scan: the app does not know the session yet")
            request = self._request_of(session)
            request.state, request.national_number = "confirmed", national_number

    def reject(self, session: str | None = None) -> None:
        with self._lock:
            self._request_of(session).state = "rejected"

    def expire(self, session: str | None = None) -> None:
        with self._lock:
            found = self._find(session)
            found.expires_at = self.clock() - 1
            if found.auth_req_id is not None:
                self.requests[found.auth_req_id].expires_at = self.clock() - 1

    def slow_down_next(self, count: int = 1) -> None:
        with self._lock:
            self._slow_down += count

    def forge_userinfo_signature(self) -> None:
        """From now on userinfo is signed with a fresh key the double does not publish (a forged answer)."""
        with self._lock:
            self._forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def rotate_userinfo_key(self) -> None:
        """From now on userinfo is signed with a fresh key that the double publishes at once (a key rotation the
        RP has not seen yet; id_tokens stay signed with the old key)."""
        with self._lock:
            self._forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._published.append(public_jwk(self._forger))

    def answer_acr(self, acr: str | None = ACR_BASIC) -> None:
        """From now on id_tokens carry ``acr`` (default: a lower level than asked; None: no acr claim) instead of
        the ``acr_values`` the RP asked for."""
        with self._lock:
            self._acr = acr or ""

    def answer_next(self, path: str, body: bytes, content_type: str = "application/json") -> None:
        """The next request to ``path`` (``/token``, ``/userinfo``, ``/jwks``…) gets ``body`` as it is, with HTTP
        200: a malformed or hostile answer."""
        with self._lock:
            self._raw[path] = (body, content_type)

    def _raw_answer(self, path: str) -> Response | None:
        with self._lock:
            raw = self._raw.pop(path, None)
        return None if raw is None else Response(raw[0], media_type=raw[1])

    def fail_next(self, count: int = 1) -> None:
        """The next ``count`` token requests get a 503 (an itsme outage)."""
        with self._lock:
            self._fail += count

    # ---- protocol checks ---------------------------------------------------------------------------------

    def _client_ok(self, form: dict, endpoint: str) -> str | None:
        """None when the client assertion holds, else why not (the answer is then ``401 invalid_client``)."""
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            return "no private_key_jwt client assertion"
        if form.get("client_id") not in (None, self.client_id):
            return "unknown client_id"
        try:
            claims = verify_jws(form["client_assertion"], self.client_jwks, audience=None, issuer=None,
                                now=self.clock(), require=("iss", "sub", "aud", "jti", "exp", "iat"))
        except jwt.PyJWTError as exc:
            return f"client assertion: {type(exc).__name__}"
        audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return "client assertion: iss and sub must be the client_id"
        if not {self.issuer, f"{self.issuer}{endpoint}"} & set(audience):
            return "client assertion: aud is neither the issuer nor this endpoint"
        if claims["exp"] > self.clock() + 600:
            return "client assertion: lives too long"
        if claims["jti"] in self._jtis:
            return "client assertion: jti replayed"
        self._jtis.add(claims["jti"])
        return None

    def _refuse(self, status: int, error: str, why: str = "") -> JSONResponse:
        self.refusals.append(f"{error}: {why}" if why else error)
        return JSONResponse({"error": error, "error_description": why or error}, status_code=status,
                            headers={"Cache-Control": "no-store"})

    def _sign(self, claims: dict, key: rsa.RSAPrivateKey | None = None) -> str:
        key = key or self._key
        kid = self.jwk["kid"] if key is self._key else public_jwk(key)["kid"]
        return jwt.encode(claims, key, algorithm=signing_algorithm(key), headers={"kid": kid})

    def _encrypt(self, signed: str) -> str:
        """A nested JWT (OIDC Core 16.14): the signed JWT encrypted to the RP's registered encryption key."""
        header = {"alg": self.key_encryption, "enc": self.content_encryption, "cty": "JWT"}
        if self._encrypt_kid:
            header["kid"] = self._encrypt_kid
        return jwe.encrypt_compact(header, signed.encode(), self._encrypt_to,
                                   algorithms=[self.key_encryption, self.content_encryption])

    def _subject(self, national_number: str) -> str:
        """A pairwise, stable subject per client, as itsme gives (not the national number itself)."""
        return hashlib.sha256(f"{self.client_id}:{national_number}".encode()).hexdigest()[:32]

    # ---- the HTTP side -----------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="itsme protocol double", openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict:
            return {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks",
                    "token_endpoint": f"{self.issuer}/token", "userinfo_endpoint": f"{self.issuer}/userinfo",
                    "backchannel_authentication_endpoint": f"{self.issuer}/bc-authorize",
                    USER_DISCOVERY_KEY: f"{self.issuer}/user-discovery",
                    "backchannel_token_delivery_modes_supported": ["poll"],
                    "backchannel_user_code_parameter_supported": False,
                    "grant_types_supported": [CIBA_GRANT],
                    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "claims_supported": ["sub", self.claim]}

        @app.middleware("http")
        async def raw_answers(request: Request, call_next):
            return self._raw_answer(request.url.path) or await call_next(request)

        @app.get("/jwks")
        def jwks() -> dict:
            return {"keys": list(self._published)}

        @app.post("/user-discovery")
        async def user_discovery(request: Request) -> Response:
            form = await _form(request)
            with self._lock:
                why = self._client_ok(form, "/user-discovery")
                if why:
                    return self._refuse(401, "invalid_client", why)
                handle = secrets.token_urlsafe(16)
                qr = f"{self.issuer}/qr/{handle}"
                self.sessions[handle] = DiscoverySession(handle, qr, self.clock() + self.lifetime)
                return JSONResponse({"session": handle, "qr": qr, "expires_in": int(self.lifetime)})

        @app.post("/bc-authorize")
        async def backchannel(request: Request) -> Response:
            form = await _form(request)
            with self._lock:
                why = self._client_ok(form, "/bc-authorize")
                if why:
                    return self._refuse(401, "invalid_client", why)
                scopes = str(form.get("scope", "")).split()
                if "openid" not in scopes or f"service:{self.service_code}" not in scopes:
                    return self._refuse(400, "invalid_scope", "openid and service:<code> are required")
                session = self.sessions.get(str(form.get("login_hint_token", "")))
                if session is None:
                    return self._refuse(400, "unknown_user_id", "login_hint_token names no discovery session")
                if session.expires_at <= self.clock() or session.auth_req_id is not None:
                    return self._refuse(400, "expired_login_hint_token", "the discovery session is spent")
                message = str(form.get("binding_message", ""))
                if not 1 <= len(message) <= 60:
                    return self._refuse(400, "invalid_binding_message", "1 to 60 characters")
                auth_req_id = secrets.token_urlsafe(24)
                session.auth_req_id = auth_req_id
                self.requests[auth_req_id] = AuthRequest(auth_req_id, self.client_id, session.handle,
                                                         session.expires_at, self.interval, message,
                                                         str(form.get("acr_values", "")))
                return JSONResponse({"auth_req_id": auth_req_id, "expires_in": int(session.expires_at - self.clock()),
                                     "interval": int(self.interval)})

        @app.post("/token")
        async def token(request: Request) -> Response:
            form = await _form(request)
            with self._lock:
                now = self.clock()
                self.token_polls.append(now)
                if self._fail:
                    self._fail -= 1
                    return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
                why = self._client_ok(form, "/token")
                if why:
                    return self._refuse(401, "invalid_client", why)
                if form.get("grant_type") != CIBA_GRANT:
                    return self._refuse(400, "unsupported_grant_type")
                pending = self.requests.get(str(form.get("auth_req_id", "")))
                if pending is None or pending.state == "delivered":
                    return self._refuse(400, "invalid_grant", "unknown or spent auth_req_id")
                too_soon = pending.last_poll is not None and now - pending.last_poll < pending.interval
                pending.last_poll = now
                if self._slow_down or too_soon:
                    self._slow_down = max(0, self._slow_down - 1)
                    pending.interval += 5
                    return self._refuse(400, "slow_down")
                if pending.state == "expired" or now >= pending.expires_at:
                    pending.state = "expired"
                    return self._refuse(400, "expired_token")
                if pending.state == "rejected":
                    return self._refuse(400, "access_denied")
                if pending.state == "pending":
                    return self._refuse(400, "authorization_pending")
                pending.state = "delivered"
                subject = self._subject(pending.national_number)
                access = secrets.token_urlsafe(32)
                self._access[access] = (subject, pending.national_number, now + 300)
                claims = {"iss": self.issuer, "sub": subject, "aud": self.client_id, "iat": int(now),
                          "exp": int(now) + 300, "auth_time": int(now), "acr": pending.acr_values,
                          AUTH_REQ_ID_CLAIM: pending.auth_req_id}
                if self._acr is not None:  # answer_acr: another level than the one asked for, or none
                    claims.pop("acr")
                    claims.update({"acr": self._acr} if self._acr else {})
                id_token = self._sign(claims)
                if self.encrypt_id_token:
                    id_token = self._encrypt(id_token)
                return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 300,
                                     "id_token": id_token}, headers={"Cache-Control": "no-store"})

        @app.get("/userinfo")
        def userinfo(authorization: str = Header(default="")) -> Response:
            with self._lock:
                granted = self._access.get(authorization.removeprefix("Bearer ").strip())
            if granted is None or granted[2] <= self.clock():
                return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            claims = {"sub": granted[0], self.claim: granted[1]}
            if self.signed_userinfo:
                signed = self._sign(claims | {"iss": self.issuer, "aud": self.client_id}, self._forger)
                if self._encrypt_to is not None:
                    signed = self._encrypt(signed)
                return Response(signed, media_type="application/jwt")
            return JSONResponse(claims)

        @app.get("/_double/sessions")
        def list_sessions() -> list[dict]:
            with self._lock:
                return [{"session": s.handle, "qr": s.qr, "scanned": s.scanned,
                         "state": self.requests[s.auth_req_id].state if s.auth_req_id else "no request"}
                        for s in self.sessions.values()]

        def control(action: Callable[[], object]) -> JSONResponse:
            try:
                action()
            except DoubleError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            return JSONResponse({"ok": True})

        @app.post("/_double/{action}")
        async def act(action: str, request: Request) -> JSONResponse:
            """The citizen's app, for the demo: scan, confirm (national_number=…), reject, expire; session=…
            (the discovery handle or the QR text) or the newest session."""
            form = await _form(request)
            session = form.get("session") or None
            actions = {"scan": lambda: self.scan(session),
                       "confirm": lambda: (self.scan(session), self.confirm(form.get("national_number", ""), session)),
                       "reject": lambda: (self.scan(session), self.reject(session)),
                       "expire": lambda: self.expire(session)}
            if action not in actions:
                return JSONResponse({"error": "unknown action"}, status_code=404)
            try:
                actions[action]()
            except DoubleError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            return JSONResponse({"ok": True})

        return app


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (OAuth's format) without python-multipart."""
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        return {}


# ---- running it ----------------------------------------------------------------------------------------------

def serve_in_thread(app, sock: socket.socket) -> Callable[[], None]:
    """Serve ``app`` with uvicorn on an already bound socket in a daemon thread; returns a stop function."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="itsme-double")
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        raise RuntimeError("the itsme double did not start")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    return stop


def create_rp_key(path: Path) -> rsa.RSAPrivateKey:
    """An RSA key for the town hall as RP (demo and tests), written with mode 0600 from the first byte; an existing
    file is read instead."""
    path = Path(path)
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def start_itsme_double(rp_key_path: Path, *, client_id: str = "kioskd-demo", service_code: str = "KIOSKD_DEMO",
                       clock: Callable[[], float] = time.time, interval: float = 2.0,
                       host: str = "127.0.0.1", encryption_key_path: Path | None = None,
                       **options) -> tuple[str, ItsmeDouble]:
    """Start the double on ``host`` (ephemeral port), registering the RP key at ``rp_key_path`` (created if absent).

    With ``encryption_key_path`` (created if absent) the RP's encryption key is registered too and userinfo comes
    encrypted, as from production itsme (``encrypt_id_token=True``: the id_token too; ``encrypt_to=<JWK>``: encrypt
    to another key than the registered one). Returns (issuer URL, the double): ``double.scan() / confirm(nn) /
    reject() / expire()`` act as the citizen, ``double.townhall_section`` is the ``[itsme]`` table for the town
    hall's config, ``double.stop()`` ends it.
    """
    key = create_rp_key(rp_key_path)
    encryption = create_rp_key(encryption_key_path) if encryption_key_path is not None else None
    registered = rp_jwks(key, encryption)
    if encryption is not None:
        options.setdefault("encrypt_to", registered["keys"][1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    url = f"http://{host}:{sock.getsockname()[1]}"
    double = ItsmeDouble(url, client_id=client_id, client_jwks=registered,
                         service_code=service_code, clock=clock, interval=interval, **options)
    double.townhall_section = {"issuer": url, "client_id": client_id, "private_key": str(rp_key_path),
                               "service_code": service_code}
    if encryption_key_path is not None:
        double.townhall_section["encryption_key"] = str(encryption_key_path)
    double.stop = serve_in_thread(double.app, sock)
    return url, double
