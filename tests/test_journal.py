"""The journal's rules in isolation: release before relay, one collection, recovery after a crash."""

import pytest

from kioskd import journal
from kioskd.catalogue import seed_catalogue
from kioskd.changes import apply_changes
from kioskd.store import Store

NOW = 1_796_000_000.0


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "k.db")
    seed_catalogue(s)
    with s.transaction() as conn:
        for n in (1, 2, 3):
            conn.execute("INSERT INTO lockers (number, size, row, col) VALUES (?, 'S', 1, ?)", (n, n))
    apply_changes(s, [{"type": "reservation", "id": f"R-{n}", "product": "vouchers", "status": "ready",
                       "locker": n, "pin": f"1234567{n}"} for n in (1, 2, 3)], key=b"k" * 32, pin_length=8, now=NOW)
    yield s
    s.close()


def release(store, rid="R-1", locker=1, reason="pickup", token=None):
    return journal.commit_release(store, reservation_id=rid, locker=locker, reason=reason, method="pin",
                                  token_id=token, now=NOW)


def status(store, rid):
    return store.conn.execute("SELECT status FROM reservations WHERE id = ?", (rid,)).fetchone()[0]


def test_release_refusals(store):
    with pytest.raises(journal.ReleaseRefusedError, match="not_ready"):
        release(store, locker=2)  # wrong locker for R-1
    release(store, token="j1")
    with pytest.raises(journal.ReleaseRefusedError, match="replayed"):
        release(store, "R-2", 2, token="j1")
    assert store.conn.execute("SELECT COUNT(*) FROM releases WHERE reservation_id = 'R-2'").fetchone()[0] == 0
    store.conn.execute("UPDATE lockers SET out_of_service = 1 WHERE number = 3")
    with pytest.raises(journal.ReleaseRefusedError, match="locker_out_of_service"):
        release(store, "R-3", 3)


def test_collect_once(store):
    rid = release(store)
    assert journal.record_door_event(store, 1, True, NOW).release_id == rid
    journal.record_door_event(store, 1, False, NOW)
    first = journal.record_collected(store, reservation_id="R-1", release_id=rid, door_left_open=False, now=NOW)
    second = journal.record_collected(store, reservation_id="R-1", release_id=rid, door_left_open=False, now=NOW)
    assert first and second is None
    assert [e["type"] for e in store.outbox()] == ["pickup.collected"]
    with pytest.raises(journal.ReleaseRefusedError, match="already_collected"):
        release(store)
    assert release(store, reason="reopen") > rid


def test_forced_door(store):
    record = journal.record_door_event(store, 2, True, NOW)
    assert record.forced and record.release_id is None
    assert [e["type"] for e in store.outbox()] == ["alarm.door_forced"]


def test_recovery_never_repulses_and_settles_by_door_state(store):
    pending = release(store, "R-1", 1)  # crash before the door opened
    opened = release(store, "R-2", 2)   # crash while the door was open
    journal.record_door_event(store, 2, True, NOW)
    notes = journal.recover_after_restart(store, NOW + 5)
    assert len(notes) == 2
    states = dict(store.conn.execute("SELECT id, state FROM releases"))
    assert states == {pending: "interrupted", opened: "interrupted"}
    assert status(store, "R-1") == "ready" and status(store, "R-2") == "collected"
    types = [(e["type"], e["payload"].get("recovered")) for e in store.outbox()]
    assert types == [("release.interrupted", None), ("release.interrupted", None), ("pickup.collected", True)]
    assert journal.recover_after_restart(store, NOW + 6) == []  # idempotent


def test_recovery_collects_a_closed_door_whose_collection_was_lost(store):
    rid = release(store, "R-3", 3)
    journal.record_door_event(store, 3, True, NOW)
    journal.record_door_event(store, 3, False, NOW)  # killed here, before RecordCollected committed
    journal.recover_after_restart(store, NOW + 5)
    assert status(store, "R-3") == "collected"
    assert [(e["type"], e["payload"]["release"]) for e in store.outbox()] == [("pickup.collected", rid)]


def test_stale_pending_release_does_not_excuse_a_forced_door(store):
    release(store, "R-1", 1)
    assert journal.record_door_event(store, 1, True, NOW + 3600).forced


def test_recovery_only_counts_citizen_pickups_as_collections(store):
    """A staff load (or a return) whose door closed before a crash must not become a collection."""
    with store.transaction() as conn:
        for reason, state in (("load", "closed"), ("return", "opened")):
            conn.execute("INSERT INTO releases (reservation_id, locker, reason, method, state, created_at)"
                         " VALUES ('R-1', 1, ?, 'badge', ?, '2026-11-29T00:00:00+00:00')", (reason, state))
    journal.recover_after_restart(store, NOW)
    assert status(store, "R-1") == "ready"
    assert "pickup.collected" not in [e["type"] for e in store.outbox()]
