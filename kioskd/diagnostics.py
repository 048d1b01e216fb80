"""What service mode shows, read from the store and the drivers: plain values for the service screens.

``ServiceDesk.status`` is the live picture (lockers with their doors and flags, active alarms, each
device's state, sync and outbox, the reader's last frames, the camera's frame count, recent log lines);
``card_test`` and ``audio_test`` are the technician's device tests. Badge and tag UIDs in reader frames
are masked to their last four characters: a technician needs to see that a tag was read, not its number.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from kioskd import inventory, journal
from kioskd.clock import parse_iso
from kioskd.drivers.cards import CardReaderStatus
from kioskd.drivers.speech import Speaker
from kioskd.events import DeviceStatus
from kioskd.logbuffer import RecentLog
from kioskd.store import Store

log = logging.getLogger(__name__)

DEVICES = ("locks", "rfid", "camera", "speech", "cards")
FRAMES_SHOWN = 8
RDM6300_HEX = 12  # hex digits in a valid RDM6300 frame: ten of the UID and two of its checksum
_HEX = frozenset("0123456789ABCDEFabcdef")
_CONTROL = re.compile(r"<[^>]{1,4}>")


def mask_uid(text: str, keep: int = 4) -> str:
    """Every hex digit of a frame but the last ``keep`` hidden, whatever separates them (``04:A2:3B``, spaces,
    garbage): ``••••••2C3D``. Enough to tell two tags apart, too little to copy one."""
    digits = sum(1 for ch in text if ch in _HEX)
    hidden = max(0, digits - keep)
    out = []
    for ch in text:
        if ch in _HEX and hidden:
            out.append("•")
            hidden -= 1
        else:
            out.append(ch)
    return "".join(out)


def _contents(rows: list[tuple]) -> tuple[str, str | None]:
    """(contents word, reservation id) of one locker's occupants, the one staff must act on first."""
    order = {"ready": 0, "expired": 1, "cancelled": 2, "returned": 3}
    if not rows:
        return "empty", None
    status, reservation = min(((r[1], r[0]) for r in rows), key=lambda x: order.get(x[0], 9))
    return status, reservation


class ServiceDesk:
    """Reads for service mode; every reader is optional (a driver disabled in config shows as "off")."""

    def __init__(self, *, store: Store, lockers: tuple[int, ...], door_is_open: Callable[[int], bool],
                 devices: Callable[[], Mapping[str, DeviceStatus]], configured: Mapping[str, bool],
                 timezone: str, tag_reader=None, camera=None, recent_log: RecentLog | None = None,
                 card_status: Callable[[], CardReaderStatus] | None = None) -> None:
        self._store = store
        self._lockers = lockers
        self._door_is_open = door_is_open
        self._devices = devices
        self._configured = configured
        self._zone = ZoneInfo(timezone)
        self.tag_reader = tag_reader
        self.camera = camera
        self._recent_log = recent_log
        self._card_status = card_status

    def status(self, now: float) -> dict:
        alarms = journal.active_alarms(self._store)
        flapping = {a["locker"] for a in alarms if a["kind"] == "sensor_flapping"}
        return {"lockers": self._locker_rows(flapping), "alarms": [
                    {"kind": a["kind"], "locker": a["locker"], "device": a["device"]} for a in alarms],
                "devices": self.devices(), "sync": self._sync(), "outbox": self._outbox(now),
                "rfid": self._rfid(), "camera": {"frames": self._camera_frames()},
                "log": self._recent_log.lines() if self._recent_log is not None else []}

    def reported(self, name: str) -> DeviceStatus | None:
        """The last status the device reported, if any."""
        return self._devices().get(name)

    def devices(self) -> list[dict]:
        reported = self._devices()
        rows = []
        for name in DEVICES:
            status = reported.get(name)
            if not self._configured.get(name, False):
                state, detail = "off", ""
            elif status is None or status.ok:
                state, detail = "ok", ""
            else:
                state, detail = "down", status.detail
            if name == "rfid" and state == "down" and self.tag_reader is not None:
                detail = getattr(self.tag_reader, "status", detail) or detail
            rows.append({"name": name, "state": state, "detail": detail})
        return rows

    def _locker_rows(self, flapping: set) -> list[dict]:
        conn = self._store.conn
        info = {n: (size, oos, suspect) for n, size, oos, suspect in conn.execute(
            "SELECT number, size, out_of_service, suspect FROM lockers")}
        occupants: dict[int, list[tuple]] = {}
        for locker, reservation, status in conn.execute(
                f"SELECT locker, reservation_id, status FROM ({inventory.OCCUPANTS})"):
            occupants.setdefault(locker, []).append((reservation, status))
        rows = []
        for number in self._lockers:
            size, oos, suspect = info.get(number, ("", 1, 0))
            contents, reservation = _contents(occupants.get(number, []))
            flags = [name for name, on in (("out_of_service", oos), ("suspect", suspect),
                                           ("flapping", number in flapping)) if on]
            rows.append({"locker": number, "size": size, "door": "open" if self._door(number) else "closed",
                         "contents": contents, "reservation": reservation, "flags": flags})
        return rows

    def _door(self, number: int) -> bool:
        try:
            return self._door_is_open(number)
        except (KeyError, OSError):
            return False

    def _sync(self) -> dict:
        """The town-hall link; until a sync client is configured, "not_configured"."""
        status = self._devices().get("sync")
        if status is None:
            return {"state": "not_configured", "since": None}
        return {"state": "online" if status.ok else "offline", "since": status.detail or None}

    def _outbox(self, now: float) -> dict:
        pending, oldest = self._store.conn.execute(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL").fetchone()
        minutes = None if oldest is None else max(0, int((now - parse_iso(oldest)) // 60))
        return {"pending": pending, "oldest_minutes": minutes}

    def _rfid(self) -> dict:
        reader = self.tag_reader
        if reader is None:
            return {"protocol": "", "frames": []}
        offset = time.time() - time.monotonic()  # frames are stamped on the monotonic clock
        frames = []
        for frame in reversed(reader.last_frames[-FRAMES_SHOWN:]):
            text = _CONTROL.sub("", frame.text).strip()
            if frame.problem is None and reader.protocol == "rdm6300" and len(text) == RDM6300_HEX:
                text = text[:-2]  # the UID without its checksum
            uid = mask_uid(text)[:24]
            frames.append({"at": datetime.fromtimestamp(frame.at + offset, self._zone).strftime("%H:%M:%S"),
                           "valid": frame.problem is None, "uid": uid, "problem": frame.problem or ""})
        return {"protocol": reader.protocol, "frames": frames}

    def _camera_frames(self) -> int:
        return int(getattr(self.camera, "frames_processed", 0)) if self.camera is not None else 0

    # ---- tests -----------------------------------------------------------------------------------

    def card_test(self) -> dict:
        if self._card_status is None:
            return {"state": "down", "readers": [], "card_present": False, "detail": "no card reader support"}
        result = self._card_status()
        return {"state": result.state, "readers": list(result.readers), "card_present": result.card_present,
                "detail": result.detail}

    @staticmethod
    def audio_test(speaker: Speaker) -> dict:
        available = getattr(speaker, "available", True)
        if not available:
            return {"state": "down", "volume": 0, "detail": getattr(speaker, "status", "")}
        speaker.tone("complete")
        return {"state": "played", "volume": round(speaker.volume * 100), "detail": ""}


def safe_status(desk: ServiceDesk, now: float) -> dict:
    """The status, or as much as could be read: service mode must open even on a failing store."""
    try:
        return desk.status(now)
    except sqlite3.Error:
        log.exception("could not read the service status")
        return {"lockers": [], "alarms": [], "devices": desk.devices(), "log": []}
