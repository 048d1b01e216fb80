"""Speaker: spoken prompts by name. The speech issue adds the pygame.mixer voice; until then the
kiosk announces prompts through this recording twin, so flows already say what they mean."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class Speaker(Protocol):
    def say(self, prompt: str, lang: str) -> None: ...
    def close(self) -> None: ...


class RecordingSpeaker:
    """Keeps the prompts it was asked to say, in order: a test instrument and the headless default."""

    def __init__(self, limit: int = 1000) -> None:
        self.spoken: list[tuple[str, str]] = []
        self._limit = limit

    def say(self, prompt: str, lang: str) -> None:
        self.spoken.append((prompt, lang))
        del self.spoken[:-self._limit]
        log.debug("prompt %s (%s)", prompt, lang)

    def close(self) -> None:
        pass
