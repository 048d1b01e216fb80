"""The effect runner: carries out what flows ask for, in order, and answers with result events.

This is where the rules meet the hardware: ``ReleaseLocker`` commits the journal row (and spends
the QR token) before the relay is energised; a refused or failed commit never reaches the relay.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable

from gpiozero.exc import GPIOZeroError

from kioskd import effects as fx
from kioskd import inventory, journal
from kioskd.clock import Clock
from kioskd.diagnostics import ServiceDesk, safe_status
from kioskd.drivers.locks import LockBank
from kioskd.drivers.speech import Speaker
from kioskd.events import (
    BadgeSeen,
    DeviceStatus,
    IdentificationFailed,
    LoanSeen,
    ReleaseRefused,
    ReleaseStarted,
    ReturnRefused,
    ServiceResult,
    ServiceStatus,
    StaffIdentified,
    StaffWork,
    TagUnknown,
)
from kioskd.identify import Identifier
from kioskd.proofs import IdentityProofs
from kioskd.store import Store
from kioskd.ui import prompts

log = logging.getLogger(__name__)

NO_LOCKER_IN_SERVICE = "no locker in service"
SUSPECT_AFTER = ("door_not_opened", "relay_fault")  # alarms that make a locker suspect


class Timers:
    """Named one-shot timers on the kiosk clock; restarting a name replaces its deadline."""

    def __init__(self) -> None:
        self._deadlines: dict[str, float] = {}

    def start(self, name: str, deadline: float) -> None:
        self._deadlines[name] = deadline

    def cancel(self, name: str) -> None:
        self._deadlines.pop(name, None)

    def cancel_all(self) -> None:
        self._deadlines.clear()

    def next_deadline(self) -> float | None:
        return min(self._deadlines.values(), default=None)

    def pop_due(self, now: float) -> str | None:
        due = [(deadline, name) for name, deadline in self._deadlines.items() if deadline <= now]
        if not due:
            return None
        _, name = min(due)
        del self._deadlines[name]
        return name

    def active(self) -> dict[str, float]:
        return dict(self._deadlines)


class EffectRunner:
    def __init__(self, *, store: Store, identifier: Identifier, lock_bank: LockBank, screen, speaker: Speaker,
                 clock: Clock, timers: Timers, language: Callable[[], str], desk: ServiceDesk | None = None,
                 post: Callable[[object], None] | None = None, proofs: IdentityProofs | None = None) -> None:
        self._store = store
        self._identifier = identifier
        self._locks = lock_bank
        self._screen = screen
        self._speaker = speaker
        self._clock = clock
        self._timers = timers
        self._language = language
        self._desk = desk
        self._post = post  # the kiosk's queue, for what the daemon must journal (a device status)
        self._dispatch = {
            fx.Show: self._show, fx.SetLanguage: self._set_language, fx.Say: self._say,
            fx.StartTimer: self._start_timer, fx.CancelTimer: self._cancel_timer,
            fx.CancelAllTimers: self._cancel_all, fx.VerifyPin: self._verify_pin, fx.VerifyQr: self._verify_qr,
            fx.ReleaseLocker: self._release, fx.RecordCollected: self._collected,
            fx.RecordReleaseOutcome: self._release_outcome, fx.RaiseAlarm: self._alarm,
            fx.Tone: self._tone, fx.Hush: self._hush, fx.SetAudioMode: self._set_audio_mode,
            fx.SetLargeText: self._set_large_text,
            fx.ResetVolume: self._reset_volume, fx.ChangeVolume: self._change_volume,
            fx.IdentifyTag: self._identify_tag, fx.FindLoan: self._find_loan,
            fx.ReleaseForReturn: self._release_for_return, fx.RecordReturn: self._record_return,
            fx.VerifyBadge: self._verify_badge, fx.LoadStaffWork: self._staff_work,
            fx.ReleaseForLoad: self._release_for_load, fx.ReleaseForTakeOut: self._release_for_take_out,
            fx.RecordLoaded: self._record_loaded, fx.RecordTakenOut: self._record_taken_out,
            fx.LoadServiceStatus: self._service_status, fx.ServiceRelease: self._service_release,
            fx.SetLockerService: self._set_locker_service, fx.TestCardReader: self._test_card_reader,
            fx.TestAudio: self._test_audio, fx.SetScanning: self._set_scanning,
        }
        self.proofs = proofs
        if proofs is not None:  # strong identification (kioskd.proofs): eID reader and itsme link
            self._dispatch.update({fx.ReadCard: proofs.read_card, fx.CheckIdentity: proofs.check,
                                   fx.StartItsme: proofs.start_itsme, fx.CancelItsme: proofs.cancel_itsme,
                                   fx.RecordItsme: proofs.record_itsme})

    def run(self, effects: Iterable[object]) -> list[object]:
        results: list[object] = []
        for effect in effects:
            handler = self._dispatch.get(type(effect))
            if handler is None:
                raise TypeError(f"no runner for effect {effect!r}")
            answer = handler(effect)
            if answer is not None:
                results.append(answer)
        return results

    # ---- screen, voice, timers -------------------------------------------------------------------

    def _show(self, e: fx.Show) -> None:
        self._screen.show(e.screen, dict(e.params))

    def _set_scanning(self, e: fx.SetScanning) -> None:
        camera = self._desk.camera if self._desk is not None else None
        if camera is not None:
            camera.set_scanning(e.on)

    def _set_language(self, e: fx.SetLanguage) -> None:
        self._screen.set_language(e.lang)

    def _say(self, e: fx.Say) -> None:
        """``screen``: the current screen's prompt; ``focus``: the focused button; ``hint.x``: a hint."""
        lang = self._language()
        try:
            if e.prompt == "focus":
                button = self._screen.model.button(self._screen.focus) if self._screen.focus else None
                if button is None:
                    return
                utterance = prompts.focus_prompt(button, lang)
            elif e.prompt.startswith("hint."):
                utterance = prompts.hint_prompt(e.prompt[5:], lang)
            else:
                screen, params = self._screen.current
                utterance = prompts.screen_prompt(screen, params, lang, self._screen.layout,
                                                  keys=self._screen.audio_mode)
        except (KeyError, ValueError):
            log.exception("no prompt for %s", e.prompt)
            return
        self._speaker.say(utterance)

    def _tone(self, e: fx.Tone) -> None:
        self._speaker.tone(e.name)

    def _hush(self, e: fx.Hush) -> None:
        self._speaker.stop()

    def _set_audio_mode(self, e: fx.SetAudioMode) -> None:
        self._screen.set_audio_mode(e.on)

    def _set_large_text(self, e: fx.SetLargeText) -> None:
        self._screen.set_large_text(e.on)

    def _reset_volume(self, e: fx.ResetVolume) -> None:
        self._speaker.reset_volume()

    def _change_volume(self, e: fx.ChangeVolume) -> None:
        """The volume key cycles: louder step by step, then from the loudest back to the softest."""
        if e.steps > 0 and self._speaker.volume >= 0.95:
            self._speaker.change_volume(-100)
        else:
            self._speaker.change_volume(e.steps)

    def _start_timer(self, e: fx.StartTimer) -> None:
        self._timers.start(e.name, self._clock.time() + e.seconds)

    def _cancel_timer(self, e: fx.CancelTimer) -> None:
        self._timers.cancel(e.name)

    def _cancel_all(self, e: fx.CancelAllTimers) -> None:
        self._timers.cancel_all()

    # ---- identification --------------------------------------------------------------------------

    def _verify_pin(self, e: fx.VerifyPin) -> object:
        try:
            return self._identifier.verify_pin(e.code, self._clock.time())
        except sqlite3.Error:
            log.exception("store error while checking a PIN")
            return IdentificationFailed("pin", "internal")

    def _verify_qr(self, e: fx.VerifyQr) -> object:
        try:
            return self._identifier.verify_qr(e.text, self._clock.time(), spent_ok=e.for_return)
        except sqlite3.Error:
            log.exception("store error while checking a QR code")
            return IdentificationFailed("qr", "internal")

    # ---- returns ---------------------------------------------------------------------------------

    def _identify_tag(self, e: fx.IdentifyTag) -> object | None:
        try:
            loan = self._identifier.find_loan_by_tag(e.tag)
            if loan is not None:
                return _loan_seen(loan, e.tag)
            role = self._identifier.badge_known(e.tag)
            if role is not None:
                return BadgeSeen(e.tag.strip().upper(), role)
        except sqlite3.Error:
            log.exception("store error while looking up a tag")
            return ReturnRefused("internal")
        return TagUnknown()

    def _find_loan(self, e: fx.FindLoan) -> object:
        try:
            loan = self._identifier.loan(e.reservation_id)
        except sqlite3.Error:
            log.exception("store error while looking up a loan")
            return ReturnRefused("internal")
        return ReturnRefused("not_on_loan") if loan is None else _loan_seen(loan, None)

    def _release_for_return(self, e: fx.ReleaseForReturn) -> object:
        return self._commit_then_pulse("return", e.reservation_id, lambda now: journal.commit_return_release(
            self._store, reservation_id=e.reservation_id, method=e.method, now=now, tags=e.tags))

    def _record_return(self, e: fx.RecordReturn) -> None:
        self._record("return", e.locker, e.reservation_id, lambda now: inventory.record_return(
            self._store, e.reservation_id, e.tags, e.locker, now))

    # ---- staff -----------------------------------------------------------------------------------

    def _verify_badge(self, e: fx.VerifyBadge) -> object:
        try:
            result = self._identifier.verify_badge(e.uid, e.pin, self._clock.time())
        except sqlite3.Error:
            log.exception("store error while checking a staff badge")
            return IdentificationFailed("badge", "internal")
        if isinstance(result, IdentificationFailed):
            return result
        return StaffIdentified(result.badge_id, result.role, result.name)

    def _staff_work(self, e: fx.LoadStaffWork) -> object:
        try:
            stock = inventory.awaiting_stock(self._store)
            collection = inventory.staff_collection(self._store, self._clock.time())
            names = {code: json.loads(text) for code, text in self._store.conn.execute(
                "SELECT code, names FROM products")}
        except sqlite3.Error:
            log.exception("store error while listing staff work")
            return StaffWork((), ())
        return StaffWork(
            tuple({"id": i.reservation_id, "names": names.get(i.product, {}), "size": i.locker_size} for i in stock),
            tuple({"locker": c.locker, "what": "returned" if c.contents == "returned" else "expired",
                   "id": c.reservation_id} for c in collection))

    def _release_for_load(self, e: fx.ReleaseForLoad) -> object:
        return self._commit_then_pulse("load", e.reservation_id, lambda now: journal.commit_load_release(
            self._store, reservation_id=e.reservation_id, staff_badge=e.staff_badge, now=now))

    def _release_for_take_out(self, e: fx.ReleaseForTakeOut) -> object:
        def commit(now: float) -> tuple[int, int]:
            return journal.commit_take_out_release(self._store, locker=e.locker, staff_badge=e.staff_badge,
                                                   now=now), e.locker

        return self._commit_then_pulse("take_out", None, commit)

    def _record_loaded(self, e: fx.RecordLoaded) -> None:
        self._record("load", e.locker, e.reservation_id, lambda now: inventory.record_loaded(
            self._store, e.reservation_id, e.locker, e.staff_badge, now))

    def _record_taken_out(self, e: fx.RecordTakenOut) -> None:
        self._record("take_out", e.locker, None, lambda now: inventory.record_taken_out(
            self._store, e.locker, e.staff_badge, now))

    def _record(self, what: str, locker: int, reservation_id: str | None, write: Callable[[float], object]) -> None:
        """A return, load or emptying after its door closed. Refused or failed, it is never raised: the door
        has been used, so staff are alarmed (``record_failed``) to check what the locker really holds."""
        try:
            write(self._clock.time())
            return
        except inventory.InventoryError as exc:
            log.error("%s into locker %s not recorded: %s", what, locker, exc)
            reason = exc.reason
        except sqlite3.Error:
            log.exception("%s into locker %s not recorded", what, locker)
            reason = "store_error"
        try:
            journal.raise_alarm(self._store, "record_failed", locker, reservation_id, self._clock.time(),
                                detail={"work": what, "reason": reason})
            # what the locker holds is uncertain: nobody is sent there until staff have checked it
            inventory.mark_suspect(self._store, locker, self._clock.time())
        except sqlite3.Error:
            log.exception("could not record alarm record_failed")

    # ---- service mode --------------------------------------------------------------------------

    def _service_status(self, e: fx.LoadServiceStatus) -> object:
        if self._desk is None:
            return ServiceStatus({})
        return ServiceStatus(safe_status(self._desk, self._clock.time()))

    def _service_release(self, e: fx.ServiceRelease) -> object:
        def commit(now: float) -> tuple[int, int]:
            return journal.commit_service_release(self._store, locker=e.locker, technician=e.technician,
                                                  test=e.test, now=now), e.locker

        return self._commit_then_pulse("service", None, commit)

    def _set_locker_service(self, e: fx.SetLockerService) -> None:
        try:
            before = inventory.lockers_in_service(self._store)
            changed = journal.set_locker_service(self._store, e.locker, e.in_service, e.technician,
                                                 self._clock.time())
            after = inventory.lockers_in_service(self._store)
        except inventory.InventoryError as exc:
            log.error("locker %s service state not changed: %s", e.locker, exc)
            return
        except sqlite3.Error:
            log.exception("locker %s service state not changed", e.locker)
            return
        if not changed:
            return
        log.info("locker %s %s by a technician", e.locker, "back in service" if e.in_service else
                 "taken out of service")
        # the start screen says "out of service" exactly when no locker can be released; a lock bus that is
        # down for its own reason stays down
        reported = self._desk.reported("locks") if self._desk is not None else None
        bus_down = reported is not None and not reported.ok and reported.detail != NO_LOCKER_IN_SERVICE
        if self._post is not None and not bus_down and (before > 0) != (after > 0):
            self._post(DeviceStatus("locks", after > 0, "" if after else NO_LOCKER_IN_SERVICE))

    def _test_card_reader(self, e: fx.TestCardReader) -> object:
        result = self._desk.card_test() if self._desk is not None else {"state": "down", "readers": [],
                                                                         "card_present": False, "detail": ""}
        log.info("card reader test: %s %s", result["state"], result["detail"])
        return ServiceResult("card", result)

    def _test_audio(self, e: fx.TestAudio) -> object:
        result = ServiceDesk.audio_test(self._speaker)
        if result["state"] == "played":
            self._say(fx.Say("hint.audio_test"))
        log.info("audio test: %s", result["state"])
        return ServiceResult("audio", result)

    # ---- the journal and the relay ---------------------------------------------------------------

    def _release(self, e: fx.ReleaseLocker) -> object:
        def commit(now: float) -> tuple[int, int]:
            return journal.commit_release(self._store, reservation_id=e.reservation_id, locker=e.locker,
                                          reason=e.reason, method=e.method, token_id=e.token_id, now=now), e.locker

        return self._commit_then_pulse(e.reason, e.reservation_id, commit)

    def _commit_then_pulse(self, reason: str, reservation_id: str | None,
                           commit: Callable[[float], tuple[int, int]]) -> object:
        """Journal the release (``commit`` returns release id and locker); only a committed row reaches the relay."""
        try:
            release_id, locker = commit(self._clock.time())
        except journal.ReleaseRefusedError as refusal:
            return ReleaseRefused(refusal.reason)
        except sqlite3.Error:
            log.exception("journal commit failed (%s); no locker opened", reason)
            return ReleaseRefused("internal")
        return self._pulse(release_id, locker, reservation_id, reason)

    def _pulse(self, release_id: int, locker: int, reservation_id: str | None, reason: str) -> object:
        # the journal row is committed: only now may the lock be energised
        try:
            self._locks.pulse(locker)
        except (GPIOZeroError, KeyError, OSError) as exc:
            log.error("relay of locker %s failed: %s", locker, exc)
            self._release_outcome(fx.RecordReleaseOutcome(release_id, "unopened"))
            self._alarm(fx.RaiseAlarm("relay_fault", locker, reservation_id))
            return ReleaseRefused("locker_out_of_service")
        log.info("locker %s released (release %s, %s)", locker, release_id, reason)
        return ReleaseStarted(release_id, locker)

    def _collected(self, e: fx.RecordCollected) -> None:
        try:
            journal.record_collected(self._store, reservation_id=e.reservation_id, release_id=e.release_id,
                                     door_left_open=e.door_left_open, now=self._clock.time())
        except sqlite3.Error:
            log.exception("could not record collection of %s", e.reservation_id)

    def _release_outcome(self, e: fx.RecordReleaseOutcome) -> None:
        try:
            journal.record_release_outcome(self._store, e.release_id, e.outcome, self._clock.time())
        except sqlite3.Error:
            log.exception("could not close release %s", e.release_id)

    def _alarm(self, e: fx.RaiseAlarm) -> None:
        log.warning("alarm %s on locker %s", e.kind, e.locker)
        try:
            journal.raise_alarm(self._store, e.kind, e.locker, e.reservation_id, self._clock.time())
            if e.kind in SUSPECT_AFTER and e.locker is not None:
                # nobody is sent to this locker for a return or a load until staff have looked at it
                inventory.mark_suspect(self._store, e.locker, self._clock.time())
        except sqlite3.Error:
            log.exception("could not record alarm %s", e.kind)


def _loan_seen(loan, tag: str | None) -> LoanSeen:
    returned = tuple(t.tag for t in loan.tags if t.returned_at is not None)
    return LoanSeen(loan.reservation, loan.outstanding, returned, tag.strip().upper() if tag else None)
