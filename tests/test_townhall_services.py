"""The town hall's domain services: QR tokens kioskd accepts, PINs never at rest in plain text, the citizen's
e-mail, cancel and extend, KPIs, users, config, the CLI, and the feed applied by kioskd's own change code."""

import base64
import email
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from townhall_helpers import NOW, Clock, make_config

from kioskd import tokens
from kioskd.catalogue import seed_catalogue
from kioskd.changes import apply_changes
from kioskd.store import Store
from townhall import cli, exchange, services
from townhall.config import ConfigError, load_config
from townhall.runtime import Townhall
from townhall.services import Citizen, ServiceError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def th(tmp_path, clock):
    runtime = Townhall(make_config(tmp_path), clock=clock)
    services.seed_products(runtime)
    services.create_kiosk(runtime, "aalter-1", "Aalter")
    services.create_kiosk(runtime, "aalter-2")
    yield runtime
    runtime.close()


def _reserve(th, **kw):
    kw.setdefault("product", "vouchers")
    kw.setdefault("kiosk_id", "aalter-1")
    return services.create_reservation(th, citizen=Citizen("An Peeters", "an@example.org"), **kw)


def test_qr_tokens_verify_with_kioskd_for_their_kiosk_only(th, clock):
    made = _reserve(th, locker=3)
    public = tokens.public_key_from_raw(base64.b64decode(th.qr_public_key))
    token = tokens.verify(public, made.qr_token, "aalter-1", clock())
    assert token.reservation_id == made.reservation.id
    assert token.expires_at == int(made.reservation.expires_at.timestamp())
    with pytest.raises(tokens.TokenError) as wrong:
        tokens.verify(public, made.qr_token, "aalter-2", clock())
    assert wrong.value.reason == "wrong_kiosk"
    other = tokens.public_key_from_raw(tokens.raw_public_key(tokens.Ed25519PrivateKey.generate()))
    with pytest.raises(tokens.TokenError, match="forged"):
        tokens.verify(other, made.qr_token, "aalter-1", clock())
    awaiting = _reserve(th)  # not yet loaded: valid for loading time plus the pickup time
    assert tokens.verify(public, awaiting.qr_token, "aalter-1", clock() + 40 * 86400)


def test_key_files_are_created_private_and_reused(tmp_path, th):
    for name in ("qr.key", "secret.key"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o600
    again = Townhall(make_config(tmp_path))
    assert again.qr_public_key == th.qr_public_key
    again.close()


def test_pins_are_never_in_plain_text_in_the_database(tmp_path, th):
    made = [_reserve(th) for _ in range(5)]
    services.save_badge(th, "aalter-1", "0A1B2C3D99", "staff", "An Peeters", pin="480613")
    th.engine.dispose()
    data = b"".join(p.read_bytes() for p in tmp_path.glob("townhall.db*"))
    for m in made:
        assert m.pin.encode() not in data
    assert b"480613" not in data
    assert made[0].reservation.id.encode() in data  # the file is the database indeed


def test_the_citizen_gets_an_email_with_code_and_qr(tmp_path, th):
    made = _reserve(th, locker=2)
    assert made.notified_to and made.notify_error is None
    message = email.message_from_bytes(Path(made.notified_to).read_bytes())
    assert message["To"] == "an@example.org" and made.reservation.id in message["Subject"]
    parts = {part.get_content_type(): part for part in message.walk()}
    assert made.pin in parts["text/plain"].get_payload(decode=True).decode()
    assert parts["image/png"].get_payload(decode=True).startswith(b"\x89PNG")
    assert stat.S_IMODE(os.stat(made.notified_to).st_mode) == 0o600
    assert services.get_reservation(th, made.reservation.id).notified_at is not None
    silent = services.create_reservation(th, kiosk_id="aalter-1", product="vouchers", citizen=Citizen("No Mail"))
    assert silent.notified_to is None and silent.notify_error is None


def test_loans_need_tags_free_of_other_loans_and_badges(th):
    with pytest.raises(ServiceError, match="not_loanable"):
        _reserve(th, kind="loan", tags=["0A1B2C3D4E"])
    loan = _reserve(th, product="room-key", kind="loan", tags=["0a1b2c3d4e"])
    assert loan.reservation.tags == ["0A1B2C3D4E"]
    with pytest.raises(ServiceError, match="tag_lent"):
        _reserve(th, product="room-key", kind="loan", tags=["0A1B2C3D4E"])
    services.save_badge(th, "aalter-1", "0A1B2C3D77", "staff", "Staff", pin="480613")
    with pytest.raises(ServiceError, match="tag_is_badge"):
        _reserve(th, product="room-key", kind="loan", tags=["0A1B2C3D77"])
    for bad in ([], ["xyz"], ["0A1B2C3D11", "0A1B2C3D11"]):
        with pytest.raises(ServiceError, match="invalid_tags"):
            _reserve(th, product="room-key", kind="loan", tags=bad)
    with pytest.raises(ServiceError, match="invalid_pin"):
        services.save_badge(th, "aalter-1", "0A1B2C3D78", "staff", "Staff", pin="1234")


def test_cancel_and_extend(th, clock):
    ready = _reserve(th, locker=3).reservation
    later = datetime.fromtimestamp(NOW, UTC) + timedelta(days=30)
    extended = services.extend_reservation(th, ready.id, later)
    assert extended.expires_at == later
    cancelled = services.cancel_reservation(th, ready.id, by="an")
    assert cancelled.status == "cancelled" and cancelled.closed_at is None  # still in its locker
    with pytest.raises(ServiceError, match="not_cancellable"):
        services.cancel_reservation(th, ready.id)
    with pytest.raises(ServiceError, match="not_extendable"):
        services.extend_reservation(th, ready.id, later)
    with pytest.raises(ServiceError, match="invalid_expiry"):
        services.extend_reservation(th, _reserve(th).reservation.id, datetime.fromtimestamp(NOW - 1, UTC))
    changes, _, _ = exchange.changes_page(th, "aalter-1", None, 500)
    mine = [c for c in changes if c.get("id") == ready.id]
    assert [c["type"] for c in mine] == ["reservation", "reservation", "reservation.cancel"]
    assert mine[1]["expires_at"] == later.isoformat()
    assert services.list_reservations(th, kiosk_id="aalter-1", status="cancelled")[0].id == ready.id
    expiring = _reserve(th, locker=4).reservation  # vouchers wait 14 days
    clock.advance(15 * 86400)
    assert [(r.id, r.shown_status) for r in services.list_reservations(th, status="expired")] == [
        (expiring.id, "expired")]


def test_the_feed_applies_through_kioskds_own_change_code(tmp_path, th):
    """The format is the kiosk's: a page of the server's feed goes through kioskd.changes.apply_changes."""
    _reserve(th, locker=3)
    _reserve(th, product="party-material", kind="loan", tags=["0A1B2C3D4E", "0A1B2C3D4F"])
    rid = _reserve(th).reservation.id
    services.cancel_reservation(th, rid)
    services.save_badge(th, "aalter-1", "0A1B2C3D99", "technician", "Tech", pin="480613")
    services.revoke_badge(th, "aalter-1", "0a1b2c3d99")
    services.save_badge(th, "aalter-1", "0A1B2C3D98", "staff", "Staff", pin="480614")
    store = Store(tmp_path / "kiosk.db")
    seed_catalogue(store)
    with store.transaction() as conn:
        for n in range(1, 10):
            conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (?, 'L', 1, ?)", (n, n))
    changes, _, _ = exchange.changes_page(th, "aalter-1", None, 500)
    changes = json.loads(json.dumps(changes))  # as it travels
    result = apply_changes(store, changes, key=b"k" * 32, pin_length=8, now=NOW, source="sync")
    assert result.counts == {"product": 5, "reservation": 3, "reservation.cancel": 1, "badge": 2,
                             "badge.revoke": 1}
    _, snapshot = exchange.snapshot(th, "aalter-1")
    apply_changes(store, json.loads(json.dumps(snapshot)), key=b"k" * 32, pin_length=8, now=NOW, source="sync")
    store.close()


def test_kpis_outside_hours_and_median_ready_to_collected(th):
    def collected(ready, at):
        rid = _reserve(th).reservation.id
        exchange.receive_events(th, "aalter-1", [
            exchange.IncomingEvent(f"l-{rid}", "reservation.loaded", {"reservation": rid, "locker": 1,
                                                                      "loaded_at": ready}, None),
            exchange.IncomingEvent(f"c-{rid}", "pickup.collected", {"reservation": rid, "collected_at": at}, None)])

    collected("2026-11-02T08:00:00+00:00", "2026-11-02T20:00:00+00:00")  # Monday 21:00 Brussels: outside
    collected("2026-11-03T08:00:00+00:00", "2026-11-03T09:00:00+00:00")  # Tuesday 10:00: inside, 1 h
    collected("2026-11-07T08:00:00+00:00", "2026-11-08T08:00:00+00:00")  # Sunday: outside, 24 h
    collected("2026-12-01T08:00:00+00:00", "2026-12-01T10:00:00+00:00")  # next month
    rows = services.kpis(th, kiosk_id="aalter-1")
    assert [(r.month, r.collected, r.outside_hours) for r in rows] == [("2026-11", 3, 2), ("2026-12", 1, 0)]
    assert rows[0].outside_share == pytest.approx(2 / 3)
    assert rows[0].median_ready_to_collected_seconds == 12 * 3600
    assert services.kpis(th, month="2026-12")[0].median_ready_to_collected_seconds == 2 * 3600
    log = services.event_log(th, kiosk_id="aalter-1", limit=3)
    assert len(log) == 3 and log[0].seq > log[1].seq and all(e.applied for e in log)


def test_users_have_scrypt_hashes_and_no_default(th):
    assert not services.verify_user(th, "admin", "admin")
    with pytest.raises(ServiceError, match="weak_password"):
        services.create_user(th, "an", "short")
    services.create_user(th, "an", "correct horse battery")
    assert services.verify_user(th, "an", "correct horse battery")
    assert not services.verify_user(th, "an", "correct horse battery!")


def test_config_reports_every_problem_at_once(tmp_path):
    path = tmp_path / "townhall.toml"
    path.write_text('[server]\nprot = 80\n[sync]\nburst = 0\n[kpi]\ntimezone = "Mars/Olympus"\n'
                    'opening_hours = {mon = ["09:00-08:00"], funday = []}\n[mail]\nmode = "smtp"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    for expected in ("server.prot: unknown key; did you mean 'server.port'?", "sync.burst: expected a whole number",
                     "kpi.opening_hours.mon: '09:00-08:00' ends before it starts", "funday: not a day",
                     "kpi.timezone: unknown time zone", "mail.smtp_host: required"):
        assert expected in text
    assert all(line.startswith(f"{path}: ") for line in caught.value.problems)
    path.write_text('[database]\nurl = "sqlite:///data/th.db"\n[keys]\nsecret_key = "k/secret.key"\n')
    config = load_config(path)
    assert config.database_url == f"sqlite:///{tmp_path}/data/th.db"
    assert config.secret_key == tmp_path / "k" / "secret.key"
    assert config.trusted_proxy == ""  # no proxy: forwarded headers are ignored
    path.write_text('[server]\ntrusted_proxy = "127.0.0.1"\n')
    assert load_config(path).trusted_proxy == "127.0.0.1"
    path.write_text('[server]\ntrusted_proxy = 7\n')
    with pytest.raises(ConfigError, match="server.trusted_proxy"):
        load_config(path)


def test_cli_openapi_is_the_committed_document_and_commands_work(tmp_path, capsys, monkeypatch):
    out = tmp_path / "openapi.json"
    assert cli.main(["openapi", "--out", str(out)]) == 0
    assert out.read_text() == (ROOT / "docs" / "openapi.json").read_text(), "run: townhall openapi"
    config = tmp_path / "townhall.toml"
    config.write_text('[database]\nurl = "sqlite:///th.db"\n[mail]\noutbox_dir = "outbox"\n')
    assert cli.main(["--config", str(config), "enrol-code", "aalter-1"]) == 0
    assert "enrolment code for aalter-1: " in capsys.readouterr().out
    assert cli.main(["--config", str(config), "demo-data", "--enrol-code-file", str(tmp_path / "code")]) == 0
    assert cli.main(["--config", str(config), "demo-data"]) == 0  # twice adds nothing
    printed = capsys.readouterr().out
    assert printed.count("TH-2001") == 1 and (tmp_path / "code").read_text().count("-") == 2
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long enough password\n"))
    assert cli.main(["--config", str(config), "create-user", "an", "--password-stdin"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[sever]\n")
    assert cli.main(["--config", str(bad), "openapi"]) == 2
    assert "did you mean 'server'" in capsys.readouterr().err
