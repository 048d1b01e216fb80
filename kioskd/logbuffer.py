"""The last log lines in memory, for service mode's log screen (no file, no network).

A ``logging.Handler``; the entry point attaches it to the root logger (logging is configured there only)
and passes it to the composition root. The kiosk logs no secrets, so the lines can be shown as they are.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RecentLog(logging.Handler):
    def __init__(self, capacity: int = 200, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        self._lines: deque[str] = deque(maxlen=capacity)
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record).replace(" kioskd.", " ", 1)
        except (TypeError, ValueError):  # a bad format string in a log call must not break logging
            self.handleError(record)
            return
        first = text.splitlines()[0] if text else ""  # a traceback stays in the journal, not on the screen
        with self._guard:
            self._lines.append(first)

    def lines(self) -> list[str]:
        """Oldest first."""
        with self._guard:
            return list(self._lines)
