"""What the kiosk says: one spoken prompt per screen, and the words for focus, errors and outcomes.

Pure functions from a screen (name and parameters) to an ``Utterance``; the speaker driver turns an
utterance into sound (a human recording or an espeak-ng clip, by ``prompt_id``). A prompt id names
the prompt and the facts that change its wording (``screen.locker_open.4``), so the same id always
means the same words and a recording made for it stays right. No PIN digit ever reaches a prompt:
screens with a code say how many digits are wanted, never which were typed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Utterance:
    prompt_id: str  # stable name: file name of a recording or cached clip, e.g. "screen.attract"
    lang: str
    text: str
