"""What every byte-stream parser of the kiosk shares: a bounded buffer, counters, and STX framing.

The RFID readers (RDM6300 frames, text lines) and the RS485 lock boards each turn whatever arrives on a
serial port into frames. The buffer, the counters a service screen shows, the observer of raw frames, and
the loop that resynchronises on STX after noise or a broken frame are the same for all of them; only the
judgement of one candidate frame differs, and stays with each protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

FrameObserver = Callable[[bytes, str | None], None]  # raw bytes, and why they were rejected (None: valid)

INCOMPLETE = object()  # a judge's answer: the candidate may still become a frame when more bytes arrive
# a judge's other answers: the valid frame's length (int), or (why it is no frame, how many bytes to show)
Verdict = int | tuple[str, int] | object


class StreamParser:
    """Base of the parsers: ``feed(bytes)`` in subclasses, which never raises and never grows without bound."""

    kind = "frame"  # how log lines name what was rejected

    def __init__(self, on_frame: FrameObserver | None = None) -> None:
        self._buffer = bytearray()
        self._on_frame = on_frame
        self.frames_ok = 0
        self.frames_bad = 0
        self.bytes_skipped = 0
        self.last_error: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget a partial frame, e.g. after the port was reopened and its rest will never come."""
        self._buffer.clear()

    def _accept(self, raw: bytes) -> None:
        self.frames_ok += 1
        if self._on_frame is not None:
            self._on_frame(raw, None)

    def _reject(self, raw: bytes, problem: str) -> None:
        self.frames_bad += 1
        self.last_error = problem
        # logged under the protocol's own module, where an operator turns its debug output on
        logging.getLogger(type(self).__module__).debug("rejected %s: %s", self.kind, problem)
        if self._on_frame is not None:
            self._on_frame(raw, problem)

    def _scan(self, stx: int, window: int, judge: Callable[[bytearray], Verdict]) -> list[bytes]:
        """The valid STX-framed frames in the buffer, in order; what cannot be a frame is skipped.

        ``judge`` sees up to ``window`` bytes starting at an STX. After a rejected candidate the scan resumes
        at the next STX after its start, so a frame beginning inside a broken one is still found.
        """
        frames: list[bytes] = []
        while self._buffer:
            start = self._buffer.find(stx)
            if start < 0:
                self.bytes_skipped += len(self._buffer)
                self._buffer.clear()
                break
            if start:
                self.bytes_skipped += start
                del self._buffer[:start]
            verdict = judge(self._buffer[:window])
            if verdict is INCOMPLETE:
                break
            if isinstance(verdict, int):
                frame = bytes(self._buffer[:verdict])
                self._accept(frame)
                frames.append(frame)
                del self._buffer[:verdict]
            else:
                message, shown = verdict
                self._reject(bytes(self._buffer[:shown]), message)
                del self._buffer[:1]
        return frames
