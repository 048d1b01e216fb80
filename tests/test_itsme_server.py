"""The town hall as itsme relying party against the protocol double (townhall/itsme_double.py), everything over
real HTTP on 127.0.0.1: the whole CIBA flow from the kiosk API, every outcome, slow_down, a refused client
assertion, encrypted answers (JWE around a JWS, as production itsme sends), national numbers absent from logs and
from the database file, the feed carrying the numbers only until the kiosk confirms them, and the console's form."""

import json
import logging
import re
from contextlib import contextmanager

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwe
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from townhall_helpers import (
    AUTHORISED,
    HOLDER,
    STRANGER,
    Clock,
    enrol,
    itsme_server,
    make_config,
    running_server,
    strong_reservation,
)

from townhall import exchange, services
from townhall.app import create_app
from townhall.cli import main as townhall_main
from townhall.config import ConfigError, ItsmeConfig, load_config
from townhall.itsme import ProtocolError, decrypt_nested, encryption_jwk
from townhall.itsme_double import create_rp_key, start_itsme_double
from townhall.itsme_service import recent_sessions
from townhall.keys import KeyFileError, load_rp_key
from townhall.models import Change

SESSIONS = "/api/v1/itsme/sessions"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def setup(tmp_path, clock):
    with itsme_server(tmp_path, clock) as parts:
        yield parts


def open_session(kiosk: httpx.Client, rid: str) -> dict:
    answer = kiosk.post(SESSIONS, json={"reservation_id": rid})
    assert answer.status_code == 201, answer.text
    return answer.json()


def status(kiosk: httpx.Client, sid: str) -> str:
    answer = kiosk.get(f"{SESSIONS}/{sid}")
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


def test_the_holder_confirms_in_the_app_and_matches(setup, clock):
    th, _url, kiosk, double = setup
    rid = strong_reservation(th)
    started = open_session(kiosk, rid)
    assert started["poll_seconds"] == 2 and started["qr"].startswith(double.issuer)
    assert started["expires_at"].endswith("Z") or started["expires_at"].endswith("+00:00")
    assert status(kiosk, started["session_id"]) == "pending"
    clock.advance(5)
    assert status(kiosk, started["session_id"]) == "pending"  # scanned, not confirmed yet
    double.scan(started["qr"])
    double.confirm(HOLDER)
    clock.advance(5)
    assert status(kiosk, started["session_id"]) == "match"
    assert status(kiosk, started["session_id"]) == "match"  # stays so; itsme is not asked again
    request = next(iter(double.requests.values()))
    assert request.acr_values == "http://itsme.services/v2/claim/acr_advanced"
    assert request.binding_message == "Pickup: aalter-1"
    (audit,) = recent_sessions(th)
    assert (audit.reservation_id, audit.kiosk_id, audit.outcome) == (rid, "aalter-1", "match")
    assert double.refusals.count("authorization_pending") == 1 and len(double.refusals) == 1


def test_another_person_is_a_mismatch_and_an_authorised_one_a_match(setup, clock):
    th, _url, kiosk, double = setup
    rid = strong_reservation(th, authorised=[AUTHORISED])
    for person, expected in ((STRANGER, "mismatch"), (AUTHORISED, "match")):
        started = open_session(kiosk, rid)
        double.scan(started["qr"])
        double.confirm(person, started["qr"])
        clock.advance(5)
        assert status(kiosk, started["session_id"]) == expected


def test_the_app_rejects(setup, clock):
    th, _url, kiosk, double = setup
    started = open_session(kiosk, strong_reservation(th))
    double.scan()
    double.reject()
    clock.advance(5)
    assert status(kiosk, started["session_id"]) == "rejected"
    assert recent_sessions(th)[0].outcome == "rejected"


def test_the_session_expires_at_itsme_or_on_the_town_halls_clock(setup, clock):
    th, _url, kiosk, double = setup
    rid = strong_reservation(th)
    started = open_session(kiosk, rid)
    double.expire()
    clock.advance(5)
    assert status(kiosk, started["session_id"]) == "expired"
    started = open_session(kiosk, rid)
    polls = len(double.token_polls)
    clock.advance(121)  # the town hall's session_seconds (120) is shorter than the double's lifetime
    assert status(kiosk, started["session_id"]) == "expired"
    assert len(double.token_polls) == polls  # decided without asking itsme


def test_cancel_ends_the_session_and_itsme_is_not_asked_again(setup, clock):
    th, _url, kiosk, double = setup
    started = open_session(kiosk, strong_reservation(th))
    assert kiosk.delete(f"{SESSIONS}/{started['session_id']}").status_code == 204
    double.scan()
    double.confirm(HOLDER)
    clock.advance(10)
    assert status(kiosk, started["session_id"]) == "cancelled"
    assert double.token_polls == []
    assert kiosk.delete(f"{SESSIONS}/{started['session_id']}").status_code == 204  # again: no change
    assert recent_sessions(th)[0].outcome == "cancelled"


def test_a_new_session_of_the_kiosk_cancels_its_previous_one(setup):
    th, _url, kiosk, _double = setup
    rid = strong_reservation(th)
    first = open_session(kiosk, rid)
    open_session(kiosk, rid)
    assert status(kiosk, first["session_id"]) == "cancelled"


def test_slow_down_adds_five_seconds_to_the_interval(setup, clock):
    th, _url, kiosk, double = setup
    started = open_session(kiosk, strong_reservation(th))
    sid = started["session_id"]
    double.slow_down_next()
    clock.advance(5)
    assert status(kiosk, sid) == "pending"  # answered slow_down: the interval is now 10 s
    assert double.refusals == ["slow_down"]
    for _ in range(4):  # the kiosk polls every 2 s: itsme is not asked before 10 s have passed
        clock.advance(2)
        assert status(kiosk, sid) == "pending"
    assert len(double.token_polls) == 1
    clock.advance(2)
    assert status(kiosk, sid) == "pending"
    assert len(double.token_polls) == 2 and double.token_polls[1] - double.token_polls[0] == 10
    assert double.refusals == ["slow_down", "authorization_pending"]  # never too soon for the double
    double.scan()
    double.confirm(HOLDER)
    clock.advance(10)
    assert status(kiosk, sid) == "match"


def test_a_passing_outage_is_ridden_out_a_lasting_one_is_unavailable(setup, clock):
    th, _url, kiosk, double = setup
    rid = strong_reservation(th)
    started = open_session(kiosk, rid)
    double.fail_next(2)
    for _ in range(2):
        clock.advance(5)
        assert status(kiosk, started["session_id"]) == "pending"
    double.scan()
    double.confirm(HOLDER)
    clock.advance(5)
    assert status(kiosk, started["session_id"]) == "match"
    started = open_session(kiosk, rid)
    double.fail_next(3)
    for expected in ("pending", "pending", "unavailable"):
        clock.advance(5)
        assert status(kiosk, started["session_id"]) == expected


def test_signed_userinfo_is_verified(tmp_path, clock):
    with itsme_server(tmp_path, clock, signed_userinfo=True) as (th, _url, kiosk, double):
        started = open_session(kiosk, strong_reservation(th))
        double.scan()
        double.confirm(HOLDER)
        clock.advance(5)
        assert status(kiosk, started["session_id"]) == "match"


# ---- encrypted answers (JWE around a JWS) -----------------------------------------------------------------------

@contextmanager
def encrypting_server(tmp_path, clock, *, configure_key: bool = True, **double_options):
    """Like ``itsme_server``, with the RP's encryption key registered with the double (which then encrypts
    userinfo to it) and, unless ``configure_key`` is false, configured in the town hall."""
    signing, encryption = tmp_path / "rp-signing.key", tmp_path / "rp-encryption.key"
    issuer, double = start_itsme_double(signing, encryption_key_path=encryption, clock=clock, interval=5.0,
                                        service_code="KIOSKD_TEST", client_id="kioskd-test", **double_options)
    itsme = ItsmeConfig(enabled=True, issuer=issuer, client_id="kioskd-test", private_key=signing,
                        encryption_key=encryption if configure_key else None, service_code="KIOSKD_TEST",
                        timeout_seconds=5.0)
    try:
        with running_server(tmp_path, clock, itsme=itsme) as (th, url):
            yield th, url, enrol(th, url, "aalter-1"), double
    finally:
        double.stop()


def confirmed_outcome(th, kiosk, double, clock, person: str = HOLDER, rid: str | None = None) -> str:
    started = open_session(kiosk, rid or strong_reservation(th))
    double.scan()
    double.confirm(person)
    clock.advance(5)
    return status(kiosk, started["session_id"])


@pytest.mark.parametrize(("options", "alg", "enc"), [
    ({}, "RSA-OAEP-256", "A128CBC-HS256"),  # the alg the RP's JWK names
    ({"key_encryption": "RSA-OAEP", "content_encryption": "A256GCM"}, "RSA-OAEP", "A256GCM"),  # itsme's default
    ({"key_encryption": "RSA-OAEP", "content_encryption": "A256CBC-HS512"}, "RSA-OAEP", "A256CBC-HS512"),
    ({"content_encryption": "A128GCM"}, "RSA-OAEP-256", "A128GCM"),
])
def test_encrypted_userinfo_is_decrypted_and_verified(tmp_path, clock, caplog, options, alg, enc):
    caplog.set_level(logging.DEBUG)
    with encrypting_server(tmp_path, clock, **options) as (th, _url, kiosk, double):
        assert (double.key_encryption, double.content_encryption) == (alg, enc)
        rid = strong_reservation(th)
        assert confirmed_outcome(th, kiosk, double, clock, HOLDER, rid) == "match"
        assert confirmed_outcome(th, kiosk, double, clock, STRANGER, rid) == "mismatch"
        access_token = next(iter(double._access))  # what the double's userinfo sends: a JWE, five parts
        answer = httpx.get(f"{double.issuer}/userinfo", headers={"Authorization": f"Bearer {access_token}"})
        assert answer.headers["content-type"].startswith("application/jwt") and answer.text.count(".") == 4
        assert HOLDER not in answer.text and STRANGER not in answer.text
    assert HOLDER not in caplog.text and STRANGER not in caplog.text


def test_the_client_decrypts_an_encrypted_id_token_and_userinfo(tmp_path, clock):
    """The protocol client by itself: the token answer's id_token is a JWE; both open to the OP's claims."""
    with encrypting_server(tmp_path, clock, encrypt_id_token=True) as (th, _url, _kiosk, double):
        client = th.itsme.client
        discovery = client.start_discovery()
        pending = client.backchannel(discovery.handle, "Pickup: test")
        double.scan(discovery.qr)
        double.confirm(HOLDER)
        clock.advance(5)
        outcome, tokens = client.poll(pending.auth_req_id)
        assert outcome == "tokens" and tokens["id_token"].count(".") == 4
        claims = client.verify_id_token(tokens["id_token"], pending.auth_req_id)
        assert claims["iss"] == double.issuer and claims["aud"] == "kioskd-test"
        info = client.userinfo(tokens["access_token"], claims["sub"])
        assert info[double.claim] == HOLDER


def test_encrypted_id_token_and_userinfo_match(tmp_path, clock):
    with encrypting_server(tmp_path, clock, encrypt_id_token=True) as (th, _url, kiosk, double):
        assert double.encrypt_id_token
        assert confirmed_outcome(th, kiosk, double, clock) == "match"


def test_a_jwe_for_another_key_is_unavailable(tmp_path, clock, caplog):
    caplog.set_level(logging.INFO)
    elsewhere = encryption_jwk(create_rp_key(tmp_path / "someone-else.key"))
    with encrypting_server(tmp_path, clock, encrypt_to=elsewhere) as (th, _url, kiosk, double):
        assert confirmed_outcome(th, kiosk, double, clock) == "unavailable"
        assert recent_sessions(th)[0].reason.startswith("userinfo: the JWE does not decrypt with the RP's key")
    assert "unavailable: userinfo: the JWE does not decrypt" in caplog.text


def test_a_jwe_whose_jws_is_signed_by_an_unpublished_key_is_unavailable(tmp_path, clock):
    with encrypting_server(tmp_path, clock) as (th, _url, kiosk, double):
        double.forge_userinfo_signature()
        assert confirmed_outcome(th, kiosk, double, clock) == "unavailable"
        assert recent_sessions(th)[0].reason == "userinfo: signed with a key the OP does not publish"


def test_a_jwe_without_a_configured_encryption_key_is_unavailable(tmp_path, clock):
    with encrypting_server(tmp_path, clock, configure_key=False, encrypt_id_token=True) as (th, _url, kiosk, double):
        assert confirmed_outcome(th, kiosk, double, clock) == "unavailable"
        assert recent_sessions(th)[0].reason == "id_token: encrypted (JWE), but no [itsme] encryption_key is configured"


def test_a_jwe_with_an_unexpected_content_encryption_is_unavailable(tmp_path, clock):
    with encrypting_server(tmp_path, clock, content_encryption="A192GCM") as (th, _url, kiosk, double):
        assert confirmed_outcome(th, kiosk, double, clock) == "unavailable"
        assert recent_sessions(th)[0].reason == "userinfo: JWE alg 'RSA-OAEP-256' / enc 'A192GCM' not accepted"


def test_a_jwe_that_carries_no_signed_jwt_is_refused(tmp_path):
    key = create_rp_key(tmp_path / "rp-enc.key")
    public = RSAKey.import_key({m: encryption_jwk(key)[m] for m in ("kty", "n", "e")})
    private = RSAKey.import_key((tmp_path / "rp-enc.key").read_bytes())
    for plaintext in (b'{"sub": "x"}', b"", "\u00e9.a.b".encode()):
        token = jwe.encrypt_compact({"alg": "RSA-OAEP", "enc": "A128GCM"}, plaintext, public,
                                    algorithms=["RSA-OAEP", "A128GCM"])
        with pytest.raises(ProtocolError, match="userinfo: the JWE does not carry a signed JWT"):
            decrypt_nested(token, private, "userinfo")
    signed = jwe.encrypt_compact({"alg": "RSA-OAEP", "enc": "A128GCM", "zip": "DEF"}, b"a.b.c", public,
                                 algorithms=["RSA-OAEP", "A128GCM", "DEF"])
    with pytest.raises(ProtocolError, match="compressed JWE not accepted"):
        decrypt_nested(signed, private, "userinfo")
    with pytest.raises(ProtocolError, match="header is unreadable"):
        decrypt_nested("!!.a.b.c.d", private, "userinfo")
    token = jwe.encrypt_compact({"alg": "RSA-OAEP", "enc": "A128GCM"}, b"a.b.c", public,
                                algorithms=["RSA-OAEP", "A128GCM"])
    assert decrypt_nested(token, private, "userinfo") == "a.b.c"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(ProtocolError, match="does not decrypt"):
        decrypt_nested(tampered, private, "userinfo")


def test_itsme_jwks_prints_both_public_keys_and_nothing_private(tmp_path, capsys):
    create_rp_key(tmp_path / "rp.key")
    create_rp_key(tmp_path / "rp-enc.key")
    path = tmp_path / "townhall.toml"
    path.write_text('[itsme]\nissuer = "https://idp.example.be"\nclient_id = "x"\nprivate_key = "rp.key"\n'
                    'service_code = "AALTER"\nencryption_key = "rp-enc.key"\nencryption_key_id = "enc-2026"\n')
    config = load_config(path)
    assert config.itsme.encryption_key == tmp_path / "rp-enc.key" and config.itsme.encryption_key_id == "enc-2026"
    assert townhall_main(["--config", str(path), "itsme-jwks"]) == 0
    jwks = json.loads(capsys.readouterr().out)
    signing, encryption = jwks["keys"]
    assert (signing["use"], signing["alg"], signing["kty"]) == ("sig", "RS256", "RSA")
    assert (encryption["use"], encryption["alg"], encryption["kid"]) == ("enc", "RSA-OAEP-256", "enc-2026")
    assert signing["n"] != encryption["n"]
    for key in jwks["keys"]:
        assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
        assert not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key)
    path.write_text(path.read_text().replace('encryption_key = "rp-enc.key"\n', ""))  # without it: the signing one
    assert townhall_main(["--config", str(path), "itsme-jwks"]) == 2  # encryption_key_id alone is a mistake
    assert "itsme.encryption_key_id: given without itsme.encryption_key" in capsys.readouterr().err
    path.write_text(path.read_text().replace('encryption_key_id = "enc-2026"\n', ""))
    assert townhall_main(["--config", str(path), "itsme-jwks"]) == 0
    assert [k["use"] for k in json.loads(capsys.readouterr().out)["keys"]] == ["sig"]


def test_a_world_readable_or_unfit_encryption_key_is_refused(tmp_path, capsys):
    create_rp_key(tmp_path / "rp.key")
    create_rp_key(tmp_path / "rp-enc.key")
    (tmp_path / "rp-enc.key").chmod(0o644)
    path = tmp_path / "townhall.toml"
    path.write_text('[itsme]\nissuer = "https://idp.example.be"\nclient_id = "x"\nprivate_key = "rp.key"\n'
                    'service_code = "AALTER"\nencryption_key = "rp-enc.key"\n')
    assert townhall_main(["--config", str(path), "itsme-jwks"]) == 2
    assert "readable by others" in capsys.readouterr().err
    config = make_config(tmp_path, itsme=load_config(path).itsme)
    with pytest.raises(KeyFileError, match="readable by others"):
        create_app(config, clock=Clock(), console=False)
    config.itsme.encryption_key = tmp_path / "rp.key"  # one key for both uses
    with pytest.raises(KeyFileError, match="must not be the signing key"):
        create_app(config, clock=Clock(), console=False)
    config.itsme.encryption_key = tmp_path / "missing.key"
    with pytest.raises(KeyFileError, match="encryption key not found"):
        create_app(config, clock=Clock(), console=False)


def test_a_client_assertion_signed_with_the_wrong_key_is_refused_and_logged(tmp_path, clock, caplog):
    caplog.set_level(logging.INFO)
    with itsme_server(tmp_path, clock, rp_key=tmp_path / "not-registered.key") as (th, _url, kiosk, double):
        answer = kiosk.post(SESSIONS, json={"reservation_id": strong_reservation(th)})
        assert answer.status_code == 503
        assert answer.json() == {"error": "itsme_unavailable", "detail": "itsme unavailable"}
        assert double.refusals and double.refusals[0].startswith("invalid_client")
    assert "HTTP 401 invalid_client" in caplog.text


def test_itsme_not_configured_is_503(tmp_path):
    with running_server(tmp_path, Clock()) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        answer = kiosk.post(SESSIONS, json={"reservation_id": strong_reservation(th)})
        assert answer.status_code == 503 and answer.json()["detail"] == "itsme unavailable"


def test_reservations_and_sessions_of_another_kiosk_are_not_found(setup):
    th, url, kiosk, _double = setup
    other = enrol(th, url, "ghent-1")
    mine = open_session(kiosk, strong_reservation(th))
    assert other.get(f"{SESSIONS}/{mine['session_id']}").status_code == 404
    assert other.delete(f"{SESSIONS}/{mine['session_id']}").status_code == 404
    assert status(kiosk, mine["session_id"]) == "pending"
    assert other.post(SESSIONS, json={"reservation_id": strong_reservation(th, locker=4)}).status_code == 404
    assert kiosk.post(SESSIONS, json={"reservation_id": "R-00000000"}).status_code == 404
    assert kiosk.get(f"{SESSIONS}/{'x' * 24}").status_code == 404
    assert kiosk.get(f"{SESSIONS}/short").status_code == 422
    assert httpx.get(f"{url}{SESSIONS}/{mine['session_id']}").status_code == 401


def test_a_reservation_without_strong_identification_is_409(setup):
    th, _url, kiosk, _double = setup
    voucher = services.create_reservation(th, kiosk_id="aalter-1", product="vouchers",
                                          citizen=services.Citizen("An")).reservation.id
    answer = kiosk.post(SESSIONS, json={"reservation_id": voucher})
    assert answer.status_code == 409 and answer.json()["error"] == "not_identifiable"
    cancelled = strong_reservation(th)
    services.cancel_reservation(th, cancelled)
    assert kiosk.post(SESSIONS, json={"reservation_id": cancelled}).status_code == 409


def test_no_national_number_in_logs_or_in_the_database_file(setup, clock, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    th, _url, kiosk, double = setup
    rid = strong_reservation(th, authorised=[AUTHORISED])
    kiosk.get("/api/v1/changes")  # the feed delivers them (sealed in the database until confirmed)
    for person in (HOLDER, STRANGER):
        started = open_session(kiosk, rid)
        double.scan()
        double.confirm(person)
        clock.advance(5)
        status(kiosk, started["session_id"])
    th.engine.dispose()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("townhall.db*"))
    for number in (HOLDER, AUTHORISED, STRANGER):
        assert number not in caplog.text
        assert number.encode() not in stored and number.encode("utf-16-le") not in stored


# ---- the feed ------------------------------------------------------------------------------------------------

def test_the_feed_carries_national_numbers_until_the_kiosk_confirms_them(tmp_path):
    with running_server(tmp_path, Clock()) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        rid = strong_reservation(th, authorised=[AUTHORISED, AUTHORISED])
        page = kiosk.get("/api/v1/changes").json()
        (entry,) = [c for c in page["changes"] if c.get("id") == rid]
        assert entry["national_number"] == HOLDER and entry["authorised"] == [AUTHORISED]  # duplicates dropped
        assert "pin" in entry
        snapshot = [c for c in kiosk.get("/api/v1/snapshot").json()["changes"] if c.get("id") == rid]
        assert snapshot[0]["national_number"] == HOLDER  # not confirmed yet: a fresh kiosk still gets them
        services.send_to_kiosk_again(th, rid)  # unconfirmed: they go along again
        page = kiosk.get("/api/v1/changes", params={"after": page["cursor"]}).json()
        assert page["changes"][0]["national_number"] == HOLDER
        kiosk.get("/api/v1/changes", params={"after": page["cursor"]})  # confirmed: erased
        replay = [c for c in kiosk.get("/api/v1/changes").json()["changes"] if c.get("id") == rid]
        assert all("national_number" not in c and "authorised" not in c for c in replay)
        assert "national_number" not in kiosk.get("/api/v1/snapshot").json()["changes"][-1]
        services.send_to_kiosk_again(th, rid)  # the kiosk keeps the hashes it has
        again = kiosk.get("/api/v1/changes", params={"after": page["cursor"]}).json()["changes"]
        assert "national_number" not in again[-1] and "pin" in again[-1]
        with pytest.raises(services.ServiceError, match="not the national register number on file"):
            services.send_to_kiosk_again(th, rid, national_number=STRANGER)
        services.send_to_kiosk_again(th, rid, national_number="85.07.30-033.28", authorised=[])
        last = exchange.changes_page(th, "aalter-1", None, 500)[0][-1]
        assert last["national_number"] == HOLDER and "authorised" not in last


def test_finishing_a_reservation_forgets_its_hashes(tmp_path):
    with running_server(tmp_path, Clock()) as (th, _url):
        services.create_kiosk(th, "aalter-1")
        rid = strong_reservation(th)
        assert services.get_reservation(th, rid).identity_on_file
        services.cancel_reservation(th, rid)
        assert not services.get_reservation(th, rid).identity_on_file


@pytest.mark.parametrize(("number", "authorised", "code"), [
    (None, [], "national_number_required"),
    ("85073003329", [], "invalid_national_number"),
    ("8507300332", [], "invalid_national_number"),
    (HOLDER, ["12345678901"], "invalid_authorised"),
    (HOLDER, [AUTHORISED] * 6, "invalid_authorised"),
])
def test_create_refuses_a_missing_or_wrong_national_number(tmp_path, number, authorised, code):
    with running_server(tmp_path, Clock()) as (th, _url):
        services.create_kiosk(th, "aalter-1")
        with pytest.raises(services.ServiceError) as refused:
            services.create_reservation(th, kiosk_id="aalter-1", product="passport", citizen=services.Citizen("J"),
                                        national_number=number, authorised=authorised)
        assert refused.value.code == code and HOLDER not in str(refused.value)
        with pytest.raises(services.ServiceError, match="national_number_not_needed"):
            services.create_reservation(th, kiosk_id="aalter-1", product="vouchers", citizen=services.Citizen("J"),
                                        national_number=HOLDER)


# ---- config ----------------------------------------------------------------------------------------------------

def test_itsme_config_section(tmp_path):
    path = tmp_path / "townhall.toml"
    path.write_text('[itsme]\nissuer = "https://idp.example.be"\nclient_id = "x"\nprivate_key = "rp.key"\n'
                    'service_code = "AALTER"\nsession_seconds = 90\n')
    config = load_config(path)
    assert config.itsme.enabled and config.itsme.private_key == tmp_path / "rp.key"
    assert config.itsme.session_seconds == 90 and config.itsme.timeout_seconds == 10.0
    assert not load_config(None).itsme.enabled
    path.write_text('[itsme]\nissuer = "idp.example.be"\nsesion_seconds = 90\n')
    with pytest.raises(ConfigError) as problems:
        load_config(path)
    text = "\n".join(problems.value.problems)
    assert "itsme.issuer: expected an https:// URL (http:// only to 127.0.0.1, ::1 or localhost)" in text
    assert "did you mean 'itsme.session_seconds'" in text
    assert "itsme.client_id: required" in text and "itsme.service_code: required" in text


def test_the_rp_key_file_must_be_private(tmp_path):
    from townhall.itsme_double import create_rp_key

    create_rp_key(tmp_path / "rp.key")
    assert load_rp_key(tmp_path / "rp.key") is not None
    (tmp_path / "rp.key").chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_rp_key(tmp_path / "rp.key")


# ---- the console ----------------------------------------------------------------------------------------------

def test_console_form_asks_for_and_checks_the_national_number(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    app = create_app(make_config(tmp_path), clock=Clock())
    th = app.state.townhall
    services.create_kiosk(th, "aalter-1", "Aalter town hall")
    services.create_user(th, "anna", "correct horse battery")
    try:
        with TestClient(app, follow_redirects=False) as client:
            page = client.get("/console/login")
            token = re.search(r'name="login_token" value="([^"]*)"', page.text)[1]
            client.post("/console/login", data={"login_token": token, "username": "anna",
                                                "password": "correct horse battery", "next": "/console/"})
            form_page = client.get("/console/reservations/new").text
            assert "National register number" in form_page and "Authorised (optional, one per line)" in form_page
            csrf = re.search(r'name="csrf" value="([^"]*)"', form_page)[1]
            form = {"csrf": csrf, "kiosk": "aalter-1", "product": "passport", "kind": "pickup",
                    "citizen_name": "Jan Janssens", "placement": "awaiting_stock"}
            missing = client.post("/console/reservations", data=form)
            assert missing.status_code == 400 and "give the national register number" in missing.text
            assert 'id="national_number" name="national_number"' in missing.text
            assert 'aria-invalid="true"' in missing.text
            wrong = client.post("/console/reservations", data={**form, "national_number": "85073003329"})
            assert wrong.status_code == 400 and "valid check number" in wrong.text
            assert "85073003329" not in wrong.text  # not echoed back into the page
            bad_other = client.post("/console/reservations", data={**form, "national_number": HOLDER,
                                                                   "authorised": f"{AUTHORISED}\n123"})
            assert bad_other.status_code == 400 and "authorised person 2" in bad_other.text
            created = client.post("/console/reservations", data={**form, "national_number": "85.07.30-033.28",
                                                                 "authorised": f"{AUTHORISED}\n"})
            assert created.status_code == 201, created.text
            assert "Holder's national number: on file, with 1 authorised person" in created.text
            rid = re.search(r"Reservation (R-\d+) created", created.text)[1]
            shown = client.get(f"/console/reservations/{rid}").text
            assert "holder's national number: on file" in shown
            voucher = client.post("/console/reservations", data={**form, "product": "vouchers",
                                                                 "national_number": HOLDER})
            assert voucher.status_code == 400 and "leave the national number empty" in voucher.text
            for text in (created.text, shown, caplog.text):
                assert HOLDER not in text and AUTHORISED not in text and "85.07.30" not in text
    finally:
        th.close()


# ---- sealed secrets of finished reservations, retention --------------------------------------------------------

def sealed_copies(th, path_glob, context: str, plaintext: str) -> list[str]:
    """What every AES-GCM blob in the database files (at any offset) that opens under ``context`` holds: a seal
    of ``plaintext`` has a known length (nonce, text, tag), so every position is tried."""
    size = 12 + len(plaintext.encode()) + 16
    found = []
    for path in path_glob:
        data = path.read_bytes()
        for offset in range(0, len(data) - size + 1):
            blob = data[offset:offset + size]
            try:
                found.append(th.sealer.open(blob, context))
            except KeyFileError:
                continue
    return found


def kiosk_applies(store, page: dict) -> None:
    """The kiosk's own code (kioskd.changes) applies a page of the feed; ChangeError if it refuses any change."""
    from kioskd.changes import apply_changes

    apply_changes(store, page["changes"], key=b"k" * 32, pin_length=8, now=1_796_000_000.0, cursor=page["cursor"])


def test_a_reservation_cancelled_before_the_kiosk_pulls_leaves_no_sealed_secret_and_a_clean_feed(tmp_path, store):
    with running_server(tmp_path, Clock()) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        catalogue = kiosk.get("/api/v1/changes").json()
        kiosk_applies(store, catalogue)
        created = services.create_reservation(th, kiosk_id="aalter-1", product="passport", locker=3,
                                              citizen=services.Citizen("Jan Janssens"), national_number=HOLDER)
        rid, pin = created.reservation.id, created.pin
        sealed = json.dumps({"pin": pin, "national_number": HOLDER})
        th.engine.dispose()  # the last connection closes: the WAL is checkpointed into the database file
        assert sealed_copies(th, sorted(tmp_path.glob("townhall.db*")), f"change:aalter-1:{rid}", sealed) == [sealed]
        services.cancel_reservation(th, rid)
        th.engine.dispose()
        files = sorted(tmp_path.glob("townhall.db*"))
        assert not sealed_copies(th, files, f"change:aalter-1:{rid}", sealed)
        assert not sealed_copies(th, files, f"reservation:{rid}", pin)
        page = kiosk.get("/api/v1/changes", params={"after": catalogue["cursor"]}).json()
        assert page["changes"] == [] and int(page["cursor"]) > int(catalogue["cursor"])  # voided, passed over
        kiosk_applies(store, page)  # nothing refused
        assert store.conn.execute("SELECT 1 FROM reservations WHERE id = ?", (rid,)).fetchone() is None
        assert services.get_reservation(th, rid).closed_at is not None  # its locker no longer counts as taken
        # a fresh start of the feed (after nothing) does not bring them back either
        assert all(c.get("id") != rid for c in kiosk.get("/api/v1/changes").json()["changes"])


def test_voided_rows_stay_voided_across_pages(tmp_path, store):
    with running_server(tmp_path, Clock()) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        rid = strong_reservation(th, authorised=[AUTHORISED])
        services.extend_reservation(th, rid, services.get_reservation(th, rid).expires_at.replace(year=2027),
                                    notify=False)
        services.cancel_reservation(th, rid)
        after, seen = None, []
        while True:  # one change a page: the create row and the cancellation come on different pages
            params = {"limit": 1} | ({"after": after} if after else {})
            page = kiosk.get("/api/v1/changes", params=params).json()
            kiosk_applies(store, page)
            seen += page["changes"]
            after = page["cursor"]
            if not page["more"]:
                break
        assert all(c.get("id") != rid for c in seen) and any(c["type"] == "product" for c in seen)


def test_a_kiosk_that_had_the_reservation_gets_its_cancellation(tmp_path, store):
    with running_server(tmp_path, Clock()) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        rid = strong_reservation(th)
        page = kiosk.get("/api/v1/changes").json()  # applied, not yet confirmed (no request after it)
        kiosk_applies(store, page)
        services.cancel_reservation(th, rid)
        with th.sessions() as db:
            assert all(row.secret is None for row in db.scalars(select(Change)))
        page = kiosk.get("/api/v1/changes", params={"after": page["cursor"]}).json()
        assert page["changes"] == [{"type": "reservation.cancel", "id": rid}]
        kiosk_applies(store, page)
        assert store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()[0] == "cancelled"


def test_a_reservation_finished_at_the_kiosk_leaves_no_sealed_secret(tmp_path):
    with running_server(tmp_path, Clock()) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        rid = strong_reservation(th)
        kiosk.get("/api/v1/changes")
        services.send_to_kiosk_again(th, rid)  # a row with the numbers, not pulled yet
        exchange.receive_events(th, "aalter-1", [exchange.IncomingEvent(
            "e-1", "pickup.collected", {"reservation": rid, "locker": 3}, None)])
        with th.sessions() as db:
            assert [row.secret for row in db.scalars(select(Change).where(Change.ref == rid))] == [None, None]


def test_sealed_secrets_past_the_retention_limit_are_erased(tmp_path, clock):
    with running_server(tmp_path, clock) as (th, url):
        kiosk = enrol(th, url, "aalter-1")
        kiosk.get("/api/v1/changes")  # housekeeping done now; the next is due in an hour
        old = strong_reservation(th)
        clock.advance(29 * 86400)
        young = strong_reservation(th, locker=4)

        def sealed() -> set[str]:
            with th.sessions() as db:
                return {row.ref for row in db.scalars(select(Change).where(Change.secret.is_not(None)))}

        assert sealed() == {old, young}
        clock.advance(1 * 86400 + 60)  # the first is 30 days old
        kiosk.get("/api/v1/changes", params={"after": "1"})  # a feed request runs the hourly housekeeping
        assert sealed() == {young}
        clock.advance(30 * 86400)
        th.housekeeping(force=True)  # as at start
        assert sealed() == set()
        page = kiosk.get("/api/v1/changes", params={"after": "1"}).json()
        assert all("national_number" not in c and "pin" not in c for c in page["changes"])


def test_the_retention_limit_is_configurable_and_applied_at_start(tmp_path, clock):
    path = tmp_path / "townhall.toml"
    path.write_text("[sync]\nsealed_secret_days = 7\n[itsme]\naudit_days = 30\n"
                    'issuer = "https://idp.example.be"\nclient_id = "x"\nprivate_key = "rp.key"\nservice_code = "A"\n')
    config = load_config(path)
    assert config.sealed_secret_days == 7 and config.itsme.audit_days == 30
    assert config.itsme.starts_per_minute == 6 and load_config(None).sealed_secret_days == 30
    with running_server(tmp_path, clock) as (th, _url):
        services.create_kiosk(th, "aalter-1")
        strong_reservation(th)
    clock.advance(31 * 86400)
    with running_server(tmp_path, clock) as (th, _url), th.sessions() as db:  # a restart erases what is too old
        assert db.scalar(select(func.count()).select_from(Change).where(Change.secret.is_not(None))) == 0


# ---- review fixes: acr, https, keys, limits, races, malformed answers ------------------------------------------

def test_an_id_token_with_a_lower_acr_than_asked_is_unavailable(setup, clock, caplog):
    caplog.set_level(logging.INFO)
    th, _url, kiosk, double = setup
    rid = strong_reservation(th)
    assert confirmed_outcome(th, kiosk, double, clock, HOLDER, rid) == "match"  # the double answers what was asked
    double.answer_acr()  # acr_basic
    assert confirmed_outcome(th, kiosk, double, clock, HOLDER, rid) == "unavailable"
    assert recent_sessions(th)[0].reason == ("id_token: acr 'http://itsme.services/v2/claim/acr_basic' is not the "
                                            "level asked for (http://itsme.services/v2/claim/acr_advanced)")
    assert "unavailable: id_token: acr" in caplog.text
    double.answer_acr(None)  # no acr at all
    assert confirmed_outcome(th, kiosk, double, clock, HOLDER, rid) == "unavailable"
    assert recent_sessions(th)[0].reason.startswith("id_token: acr missing")


def test_plain_http_is_refused_except_to_loopback(tmp_path, clock):
    path = tmp_path / "townhall.toml"
    base = 'client_id = "x"\nprivate_key = "rp.key"\nservice_code = "A"\n'
    for issuer in ("http://idp.example.be", "http://127.0.0.1.example.be", "ftp://idp.example.be"):
        path.write_text(f'[itsme]\nissuer = "{issuer}"\n{base}')
        with pytest.raises(ConfigError, match="itsme.issuer: expected an https:// URL"):
            load_config(path)
    for issuer in ("https://idp.example.be", "http://127.0.0.1:8471", "http://[::1]:8471", "http://localhost:1"):
        path.write_text(f'[itsme]\nissuer = "{issuer}"\n{base}')
        assert load_config(path).itsme.issuer == issuer
    # an issuer given in code is checked by the client too, and every endpoint of the discovery document
    with itsme_server(tmp_path, clock) as (th, _url, kiosk, double):
        client = th.itsme.client
        client.issuer = "http://idp.example.be"
        with pytest.raises(ProtocolError, match="the issuer is not an https:// URL"):
            client.endpoints()
        client.issuer = double.issuer
        document = httpx.get(f"{double.issuer}/.well-known/openid-configuration").json()
        document["token_endpoint"] = "http://idp.example.be/token"
        double.answer_next("/.well-known/openid-configuration", json.dumps(document).encode())
        with pytest.raises(ProtocolError, match="discovery: token_endpoint not an https:// URL"):
            client.endpoints()
        answer = kiosk.post(SESSIONS, json={"reservation_id": strong_reservation(th)})
        assert answer.status_code == 201  # the double's own document (loopback http) is fine


def test_a_malformed_key_in_the_jwks_does_not_stop_the_search(tmp_path):
    import jwt as pyjwt

    from townhall.itsme import public_jwk, verify_jws

    key = create_rp_key(tmp_path / "op.key")
    token = pyjwt.encode({"sub": "x", "iat": 1_796_000_000, "exp": 1_796_000_300}, key, algorithm="RS256")  # no kid
    good = public_jwk(key)
    for bad in ({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "use": "sig"},  # unreadable
                {"kty": "oct", "k": "c2VjcmV0", "use": "sig"},  # not a key type for RS256
                {"kty": "RSA", "n": "!!", "e": "AQAB", "use": "sig"}):
        claims = verify_jws(token, {"keys": [bad, good]}, audience=None, issuer=None, now=1_796_000_000)
        assert claims["sub"] == "x"


def test_userinfo_signed_with_a_newly_published_key_fetches_the_jwks_again(tmp_path, clock):
    with itsme_server(tmp_path, clock, signed_userinfo=True) as (th, _url, kiosk, double):
        rid = strong_reservation(th)
        assert confirmed_outcome(th, kiosk, double, clock, HOLDER, rid) == "match"  # the JWKS is cached now
        double.rotate_userinfo_key()
        assert confirmed_outcome(th, kiosk, double, clock, HOLDER, rid) == "match"


def test_a_kiosk_may_open_six_sessions_a_minute(tmp_path, clock):
    with itsme_server(tmp_path, clock) as (th, url, kiosk, _double):
        rid = strong_reservation(th)
        for _ in range(6):
            open_session(kiosk, rid)
        refused = kiosk.post(SESSIONS, json={"reservation_id": rid})
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        other = enrol(th, url, "ghent-1")  # another kiosk has its own allowance
        assert other.post(SESSIONS, json={"reservation_id": strong_reservation(th, "ghent-1")}).status_code == 201
        clock.advance(10)  # one more start every 10 s
        open_session(kiosk, rid)
        assert kiosk.post(SESSIONS, json={"reservation_id": rid}).status_code == 429


def test_the_itsme_audit_is_pruned_after_its_retention(setup, clock):
    th, _url, kiosk, _double = setup
    rid = strong_reservation(th)
    first = open_session(kiosk, rid)
    clock.advance(100 * 86400)
    kiosk.get(f"{SESSIONS}/{first['session_id']}")
    open_session(kiosk, strong_reservation(th, locker=4))
    clock.advance(81 * 86400)  # the first is 181 days old, the second 81
    th.housekeeping(force=True)
    assert [row.id for row in recent_sessions(th)] != [first["session_id"]] and len(recent_sessions(th)) == 1


def test_two_concurrent_starts_of_a_kiosk_leave_one_pending_session(setup):
    import threading

    th, _url, _kiosk, _double = setup
    rid = strong_reservation(th)
    client = th.itsme.client
    both_inside = threading.Barrier(2, timeout=10)
    original = client.backchannel

    def backchannel(*args):  # both starts are past their first supersede check, talking to itsme
        both_inside.wait()
        return original(*args)

    client.backchannel = backchannel
    results = []
    threads = [threading.Thread(target=lambda: results.append(th.itsme.start("aalter-1", rid))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(results) == 2
    pending = th.itsme.sessions.of_kiosk("aalter-1")
    assert len(pending) == 1
    outcomes = {row.id: row.outcome for row in recent_sessions(th)}
    assert sorted(outcomes.values(), key=str) == [None, "cancelled"]  # None: still pending


def test_a_reservation_past_its_expiry_is_409(setup, clock):
    th, _url, kiosk, _double = setup
    rid = strong_reservation(th)
    expiry = services.get_reservation(th, rid).expires_at
    clock.now = expiry.timestamp() + 1
    answer = kiosk.post(SESSIONS, json={"reservation_id": rid})
    assert answer.status_code == 409 and answer.json()["detail"] == "the reservation has expired"


def base64url(data: bytes) -> bytes:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=")


@pytest.mark.parametrize(("path", "body", "content_type"), [
    ("/token", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("/token", b'{"error": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
    ("/userinfo", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("/userinfo", base64url(b"[" * 100_000 + b"]" * 100_000) + b".e30.c2ln", "application/jwt"),
    ("/userinfo", base64url(b'{"alg":"RS256"}') + b"." + base64url(b"[" * 100_000 + b"]" * 100_000) + b".c2ln",
     "application/jwt"),
    ("/userinfo", base64url(b"[" * 100_000) + b".a.b.c.d", "application/jwt"),  # a JWE's header
    ("/token", b" " * (300 * 1024), "application/json"),  # over MAX_ANSWER_BYTES
])
def test_malformed_answers_from_itsme_end_the_session_unavailable_never_a_500(setup, clock, path, body,
                                                                              content_type):
    th, _url, kiosk, double = setup
    started = open_session(kiosk, strong_reservation(th))
    double.scan()
    double.confirm(HOLDER)
    double.answer_next(path, body, content_type)
    clock.advance(5)
    answer = kiosk.get(f"{SESSIONS}/{started['session_id']}")
    assert answer.status_code == 200 and answer.json()["status"] == "unavailable", answer.text
    assert "unexpected" not in recent_sessions(th)[0].reason  # each refused by a check of its own


def test_a_malformed_discovery_answer_is_503_never_a_500(setup):
    th, _url, kiosk, double = setup
    double.answer_next("/user-discovery", b"[" * 100_000 + b"]" * 100_000)
    answer = kiosk.post(SESSIONS, json={"reservation_id": strong_reservation(th)})
    assert answer.status_code == 503


def test_an_oversized_answer_is_dropped_as_it_streams_in(tmp_path, clock):
    from townhall.itsme import MAX_ANSWER_BYTES, ItsmeClient

    sent = []

    def endless():
        for _ in range(4096):  # 256 MiB if read whole
            sent.append(1)
            yield b" " * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": "application/json"})

    config = ItsmeConfig(enabled=True, issuer="https://idp.example.be", client_id="x",
                         private_key=tmp_path / "rp.key", service_code="A")
    client = ItsmeClient(config, create_rp_key(tmp_path / "rp.key"), clock=clock,
                         transport=httpx.MockTransport(handler))
    with pytest.raises(ProtocolError, match=f"answer of more than {MAX_ANSWER_BYTES} bytes"):
        client.endpoints()
    assert len(sent) <= MAX_ANSWER_BYTES // 65536 + 2

    def declared(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{}", headers={"content-length": str(10 ** 9)})

    client = ItsmeClient(config, create_rp_key(tmp_path / "rp.key"), clock=clock,
                         transport=httpx.MockTransport(declared))
    with pytest.raises(ProtocolError, match="answer of 1000000000 bytes"):
        client.endpoints()
