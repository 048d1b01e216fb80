"""Wrong-code lockout: pure policy arithmetic, persisted by the shell.

Failures are counted per kiosk and per method. The first ``free_attempts - 1`` failures cost
nothing; from then on each failure locks the method for ``base_seconds``, doubling per further
failure up to ``max_seconds``. A quiet spell of ``reset_after_seconds`` forgets the count. A success
does not reset it: one valid code must not buy an attacker a fresh set of guesses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LockoutPolicy:
    free_attempts: int = 5
    base_seconds: float = 30
    max_seconds: float = 3600
    reset_after_seconds: float = 3600


@dataclass(frozen=True)
class LockoutState:
    failures: int = 0
    locked_until: float = 0.0
    last_failure: float = 0.0


def is_locked(state: LockoutState, now: float) -> bool:
    return now < state.locked_until


def after_failure(policy: LockoutPolicy, state: LockoutState, now: float) -> LockoutState:
    failures = 1 if now - state.last_failure >= policy.reset_after_seconds else state.failures + 1
    if failures >= policy.free_attempts:
        exponent = min(failures - policy.free_attempts, 32)
        locked_until = now + min(policy.max_seconds, policy.base_seconds * 2**exponent)
    else:
        locked_until = 0.0
    return LockoutState(failures, locked_until, now)
