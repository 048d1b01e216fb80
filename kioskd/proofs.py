"""Strong identification in the shell: the eID reader, the town hall's itsme link, and the match by keyed hash.

The flow (``kioskd.flows.strong``) asks for a card to be read, an identity to be checked, an itsme session to
be started or cancelled; this carries it out. The national register number read from a card lives only in
memory, long enough to compute its keyed hash; what is stored and logged is the outcome (method, and whether
the person is the holder or authorised). itsme answers come from the town hall already matched: the kiosk
never sees who confirmed.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from zoneinfo import ZoneInfo

from kioskd import effects as fx
from kioskd.clock import Clock
from kioskd.eid import card_valid_on, national_number_digest
from kioskd.events import CardRead, IdentityChecked, ItsmeResult
from kioskd.identify import Identifier

log = logging.getLogger(__name__)


class IdentityProofs:
    def __init__(self, *, identifier: Identifier, key: bytes, clock: Clock, timezone: str,
                 card_reader=None, itsme=None) -> None:
        self._identifier = identifier
        self._key = key
        self._clock = clock
        self._zone = ZoneInfo(timezone)
        self.card_reader = card_reader  # kioskd.drivers.eid_reader.PcscEidReader or SimEidReader
        self.itsme = itsme  # kioskd.itsme_link.ItsmeLink or SimItsmeLink

    def read_card(self, e: fx.ReadCard) -> CardRead | None:
        if self.card_reader is None:
            return CardRead("unreadable", detail="no card reader")
        self.card_reader.read(verify_pin=e.verify_pin)  # answers later through the kiosk's queue
        return None

    def check(self, e: fx.CheckIdentity) -> IdentityChecked:
        now = self._clock.time()
        identity = e.identity
        today = datetime.fromtimestamp(now, self._zone).date()
        if not card_valid_on(identity, today):
            log.info("eID refused: the card's validity has ended")
            return IdentityChecked("eid", False, "card_expired")
        digest = national_number_digest(self._key, identity.national_number)
        try:
            result = self._identifier.check_person(e.reservation_id, digest, "eid", now)
        except sqlite3.Error:
            log.exception("could not check an eID proof")
            return IdentityChecked("eid", False, "internal")
        log.info("eID proof for a reservation: %s", result.role if result.matched else result.reason)
        return result

    def record_itsme(self, e: fx.RecordItsme) -> IdentityChecked:
        now = self._clock.time()
        try:
            result = self._identifier.record_remote_proof(e.reservation_id, "itsme", e.matched, now)
        except sqlite3.Error:
            log.exception("could not record an itsme proof")
            return IdentityChecked("itsme", False, "internal")
        log.info("itsme proof for a reservation: %s", "match" if result.matched else result.reason)
        return result

    def start_itsme(self, e: fx.StartItsme) -> ItsmeResult | None:
        if self.itsme is None:
            return ItsmeResult("", "unavailable", e.reservation_id)
        self.itsme.start(e.reservation_id)
        return None

    def cancel_itsme(self, e: fx.CancelItsme) -> None:
        if self.itsme is not None:
            self.itsme.cancel()
