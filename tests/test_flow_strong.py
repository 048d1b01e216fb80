"""Strong identification in the pure flow: a personal document opens only after eID or itsme proves the person.

The PIN or QR only names the reservation; these tables check that no path reaches ``ReleaseLocker`` without a
matching proof, that failures are explained (and say nothing about whose document it is), and that the choice
of method follows what works right now.
"""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd import effects as fx
from kioskd.eid import Identity
from kioskd.events import (
    CardInserted,
    CardRead,
    CardRemoved,
    DeviceStatus,
    Identified,
    IdentityChecked,
    ItsmeResult,
    ItsmeStarted,
    ReservationView,
    Tap,
    TimerFired,
)
from kioskd.flows.pickup import Phase, PickupFlow, PickupSettings, PickupState

NOW = 1_800_000_000.0
BOTH = PickupFlow(PickupSettings(eid=True, itsme=True))
EID_ONLY = PickupFlow(PickupSettings(eid=True))
PIN_PAD = PickupFlow(PickupSettings(eid=True, card_pin_pad=True))
ITSME_ONLY = PickupFlow(PickupSettings(itsme=True))
PASSPORT = ReservationView("R-9", "passport", "ready", 5, NOW + 3600, "strong")
PERSON = Identity("85073003328", "Peeters", "An")


def checking(**changes) -> PickupState:
    return replace(PickupState(phase=Phase.CHECKING, method="pin", eid_available=True), **changes)


def releases(effects) -> list:
    return [e for e in effects if isinstance(e, fx.ReleaseLocker)]


def run(flow, state, *events):
    effects = []
    for event in events:
        state, out = flow.step(state, event, NOW)
        effects += out
    return state, effects


def test_code_alone_never_opens_a_strong_locker():
    for flow in (BOTH, EID_ONLY, ITSME_ONLY):
        state, effects = run(flow, checking(), Identified(PASSPORT, "pin"))
        assert not releases(effects)
        assert state.phase in (Phase.PROVE, Phase.EID_INSERT, Phase.ITSME)


def test_both_methods_offer_a_choice():
    state, effects = run(BOTH, checking(), Identified(PASSPORT, "qr", "tok-1"))
    assert state.phase is Phase.PROVE and state.token_id == "tok-1"
    assert fx.Show("prove", {"eid": True, "itsme": True}) in effects


def test_one_method_skips_the_choice():
    state, effects = run(EID_ONLY, checking(), Identified(PASSPORT, "pin"))
    assert state.phase is Phase.EID_INSERT and fx.Show("eid_insert", {}) in effects
    state, effects = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"))
    assert state.phase is Phase.ITSME and fx.StartItsme("R-9") in effects


def test_no_method_available_is_explained_not_refused_as_a_stranger():
    state, _ = run(EID_ONLY, checking(eid_available=False), Identified(PASSPORT, "pin"))
    assert state.phase is Phase.ERROR and state.error == "strong_unavailable"
    state, _ = run(ITSME_ONLY, checking(online=False), Identified(PASSPORT, "pin"))
    assert state.error == "strong_unavailable"


def test_eid_holder_opens_the_locker_with_the_qr_token_spent():
    state, _ = run(EID_ONLY, checking(method="qr"), Identified(PASSPORT, "qr", "tok-1"))
    state, effects = run(EID_ONLY, state, CardInserted())
    assert state.phase is Phase.EID_READING and fx.ReadCard(verify_pin=False) in effects
    state, effects = run(EID_ONLY, state, CardRead("ok", PERSON))
    assert not releases(effects)
    assert [e for e in effects if isinstance(e, fx.CheckIdentity)] == [fx.CheckIdentity("R-9", PERSON)]
    state, effects = run(EID_ONLY, state, IdentityChecked("eid", True, role="holder"))
    assert releases(effects) == [fx.ReleaseLocker("R-9", 5, "pickup", "qr+eid", "tok-1")]
    assert state.phase is Phase.RELEASING and not state.proving


def test_card_already_in_the_reader_is_read_at_once():
    state, _ = run(EID_ONLY, checking(card_present=True), Identified(PASSPORT, "pin"))
    assert state.phase is Phase.EID_READING


def test_pin_pad_reader_asks_for_the_pin_on_the_reader():
    state, effects = run(PIN_PAD, checking(), Identified(PASSPORT, "pin"), CardInserted())
    assert fx.ReadCard(verify_pin=True) in effects
    assert fx.Show("eid_reading", {"pin_pad": True}) in effects


def test_wrong_pin_is_not_retried_and_says_tries_left():
    state, _ = run(PIN_PAD, checking(), Identified(PASSPORT, "pin"), CardInserted())
    state, effects = run(PIN_PAD, state, CardRead("wrong_pin", tries_left=2))
    assert state.phase is Phase.ERROR and state.error == "card_wrong_pin"
    assert fx.Show("error", {"reason": "card_wrong_pin", "locked_seconds": None, "locker": 5, "tries_left": 2}) \
        in effects
    assert not [e for e in effects if isinstance(e, fx.ReadCard)]  # never again by itself
    state, effects = run(PIN_PAD, state, Tap("ok"))  # the citizen chooses to try again
    assert state.proving and state.reservation_id == "R-9"


def test_failures_map_to_reasons_and_keep_the_reservation_for_another_try():
    for outcome, reason in (("forged", "card_forged"), ("unreadable", "card_unreadable"),
                            ("pin_blocked", "card_pin_blocked"), ("pin_cancelled", "card_pin_cancelled")):
        state, _ = run(EID_ONLY, checking(), Identified(PASSPORT, "pin"), CardInserted(), CardRead(outcome))
        assert (state.phase, state.error) == (Phase.ERROR, reason)
        state, _ = run(EID_ONLY, state, CardRemoved(), Tap("ok"))
        assert state.phase is Phase.EID_INSERT and state.reservation_id == "R-9"


def test_someone_else_is_refused_without_saying_whose():
    state, effects = run(EID_ONLY, checking(), Identified(PASSPORT, "pin"), CardInserted(),
                         CardRead("ok", PERSON), IdentityChecked("eid", False, "mismatch"))
    assert state.error == "identity_mismatch" and not releases(effects)
    shown = [e for e in effects if isinstance(e, fx.Show) and e.screen == "error"]
    assert "Peeters" not in repr(shown) and "85073003328" not in repr(effects)


def test_lockout_lets_the_reservation_go():
    state, _ = run(EID_ONLY, checking(), Identified(PASSPORT, "pin"), CardInserted(), CardRead("ok", PERSON),
                   IdentityChecked("eid", False, "locked_out", locked_until=NOW + 59.5))
    assert state.error == "locked_out" and state.locked_seconds == 60
    state, _ = run(EID_ONLY, state, Tap("ok"))
    assert state.phase is Phase.METHOD


def test_stuck_read_times_out():
    state, _ = run(EID_ONLY, checking(), Identified(PASSPORT, "pin"), CardInserted())
    state, _ = run(EID_ONLY, state, TimerFired("card_read"))
    assert state.error == "card_unreadable"


def test_reader_lost_while_waiting_for_the_card_falls_back_to_itsme():
    state, _ = run(BOTH, checking(), Identified(PASSPORT, "pin"), Tap("prove:eid"))
    assert state.phase is Phase.EID_INSERT
    state, effects = run(BOTH, state, DeviceStatus("cards", False, "reader unplugged"))
    assert state.phase is Phase.ITSME and fx.StartItsme("R-9") in effects


def test_itsme_match_opens_and_late_or_foreign_answers_are_ignored():
    state, _ = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"))
    state, effects = run(ITSME_ONLY, state, ItsmeStarted("s-0", "old", NOW + 120, "R-8"))  # another reservation's
    assert state.itsme_session is None and not effects
    state, effects = run(ITSME_ONLY, state, ItsmeResult("s-x", "match", "R-9"))  # not the session we opened
    assert not effects and state.phase is Phase.ITSME
    state, effects = run(ITSME_ONLY, state, ItsmeStarted("s-1", "itsme://qr/abc", NOW + 120, "R-9"))
    assert fx.Show("itsme", {"qr": "itsme://qr/abc"}) in effects
    state, effects = run(ITSME_ONLY, state, ItsmeResult("s-0", "match", "R-9"))  # an earlier session's word
    assert not effects and state.phase is Phase.ITSME
    state, effects = run(ITSME_ONLY, state, ItsmeResult("s-1", "match", "R-8"))  # about another reservation
    assert not effects
    state, effects = run(ITSME_ONLY, state, ItsmeResult("s-1", "match", "R-9"))
    assert fx.RecordItsme("R-9", True) in effects and not releases(effects)  # audited, counted, then released
    state, effects = run(ITSME_ONLY, state, IdentityChecked("itsme", True))
    assert releases(effects) == [fx.ReleaseLocker("R-9", 5, "pickup", "pin+itsme", None)]


def test_itsme_failures_and_cancel():
    for outcome, reason in (("rejected", "itsme_rejected"), ("expired", "itsme_expired"),
                            ("unavailable", "itsme_unavailable")):
        state, _ = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"),
                       ItsmeStarted("s-1", "q", NOW + 120, "R-9"), ItsmeResult("s-1", outcome, "R-9"))
        assert (state.phase, state.error) == (Phase.ERROR, reason)
    state, effects = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"),
                         ItsmeStarted("s-1", "q", NOW + 120, "R-9"), ItsmeResult("s-1", "mismatch", "R-9"))
    assert fx.RecordItsme("R-9", False) in effects
    state, _ = run(ITSME_ONLY, state, IdentityChecked("itsme", False, "mismatch"))
    assert (state.phase, state.error) == (Phase.ERROR, "identity_mismatch")
    state, _ = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"), ItsmeResult("", "unavailable", "R-9"))
    assert state.error == "itsme_unavailable"  # the town hall could not even open a session
    state, _ = run(BOTH, checking(), Identified(PASSPORT, "pin"), Tap("prove:itsme"),
                   ItsmeStarted("s-1", "q", NOW + 120, "R-9"))
    state, effects = run(BOTH, state, Tap("back"))
    assert fx.CancelItsme() in effects and state.phase is Phase.PROVE
    state, _ = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"), ItsmeStarted("s-1", "q", NOW + 120, "R-9"))
    state, effects = run(ITSME_ONLY, state, Tap("restart"))
    assert fx.CancelItsme() in effects and state.phase is Phase.ATTRACT


def test_itsme_silent_past_expiry_gives_up():
    state, _ = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"), ItsmeStarted("s-1", "q", NOW + 120, "R-9"))
    state, effects = run(ITSME_ONLY, state, TimerFired("itsme_wait"))
    assert state.error == "itsme_expired" and fx.CancelItsme() in effects


def test_card_left_in_the_reader_is_reminded():
    state, _ = run(EID_ONLY, checking(), Identified(PASSPORT, "pin"), CardInserted(), CardRead("ok", PERSON),
                   IdentityChecked("eid", True, role="holder"))
    from kioskd.events import ReleaseStarted

    state, effects = run(EID_ONLY, state, ReleaseStarted(1, 5))
    assert [e for e in effects if isinstance(e, fx.Show)][-1].params["take_card"] is True
    state, effects = run(EID_ONLY, state, CardRemoved())
    assert "take_card" not in [e for e in effects if isinstance(e, fx.Show)][-1].params


EVENTS = st.one_of(
    st.builds(CardInserted), st.builds(CardRemoved),
    st.sampled_from([CardRead("ok", PERSON), CardRead("forged"), CardRead("wrong_pin", tries_left=1)]),
    st.sampled_from([IdentityChecked("eid", False, "mismatch"), IdentityChecked("eid", False, "card_expired")]),
    st.sampled_from([ItsmeStarted("s-1", "q", NOW + 60, "R-9"), ItsmeResult("s-1", "mismatch", "R-9"),
                     ItsmeResult("", "rejected", "R-9"), ItsmeResult("s-1", "expired", "R-9"),
                     ItsmeStarted("s-2", "q", NOW + 60, "R-8"), ItsmeResult("s-2", "match", "R-8"),
                     ItsmeResult("s-9", "match", "R-9")]),
    st.sampled_from([Tap(a) for a in ("prove:eid", "prove:itsme", "back", "ok", "restart", "help", "extend")]),
    st.sampled_from([TimerFired(n) for n in ("card_read", "itsme_wait", "inactivity", "warning")]),
    st.sampled_from([DeviceStatus("cards", False), DeviceStatus("cards", True), DeviceStatus("sync", False)]))


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=25))
def test_no_sequence_without_a_matching_proof_opens_the_locker(events):
    """Whatever happens in whatever order, a strong reservation is released only after a positive match."""
    state, _ = run(BOTH, checking(), Identified(PASSPORT, "pin"))
    for event in events:
        state, effects = BOTH.step(state, event, NOW)
        assert not releases(effects), (event, state.phase)
        assert not [e for e in effects if isinstance(e, fx.RecordItsme) and e.matched], (event, state.phase)


def test_a_town_hall_that_never_opens_the_session_is_unavailable_not_a_hang():
    state, effects = run(ITSME_ONLY, checking(), Identified(PASSPORT, "pin"))
    assert fx.StartTimer("itsme_wait", 60) in effects
    state, effects = run(ITSME_ONLY, state, TimerFired("itsme_wait"))
    assert state.error == "itsme_unavailable" and fx.CancelItsme() in effects
