"""Smart-card readers through PC/SC (pyscard): which readers there are and whether a card is in one.

The service mode's card-reader test. The Belgian eID flow builds on the same PC/SC access. A missing
pcscd, a missing reader and a reader without a card are answers, not errors.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

log = logging.getLogger(__name__)


class CardReaderStatus(NamedTuple):
    state: str  # "ok" (at least one reader), "none" (PC/SC runs, no reader), "down" (no PC/SC service)
    readers: tuple[str, ...]
    card_present: bool
    detail: str


def pcsc_status() -> CardReaderStatus:
    """Ask pcscd for its readers and try each for a card; never raises."""
    try:
        from smartcard.Exceptions import CardConnectionException, NoCardException, SmartcardException
        from smartcard.pcsc.PCSCExceptions import BaseSCardException
        from smartcard.System import readers
    except ImportError as exc:  # pyscard missing from this installation
        return CardReaderStatus("down", (), False, f"pyscard not available: {exc}")
    try:
        found = readers()
    except (BaseSCardException, SmartcardException) as exc:
        return CardReaderStatus("down", (), False, f"PC/SC service not available: {exc}")
    if not found:
        return CardReaderStatus("none", (), False, "no reader connected")
    present = False
    for reader in found:
        try:
            connection = reader.createConnection()
            connection.connect()
        except (NoCardException, CardConnectionException):
            continue
        except (SmartcardException, BaseSCardException) as exc:
            log.warning("card reader %s: %s", reader, exc)
            continue
        present = True
        try:
            connection.disconnect()
        except (SmartcardException, BaseSCardException) as exc:
            log.warning("card reader %s: %s", reader, exc)
    return CardReaderStatus("ok", tuple(str(r) for r in found), present, "")
