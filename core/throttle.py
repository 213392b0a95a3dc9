"""Slowing down guessing: resume codes and the instructor password (no streamlit here).

A :class:`Throttle` counts *failed* attempts in a sliding window. The first ``free`` failures in
the window cost nothing; after that each further attempt has to wait, and the wait doubles with
every failure (``base_wait_s``, 2×, 4×, … up to ``max_wait_s``). ``lockout_after`` failures in
the window close it completely for ``lockout_s``. A success does not erase failures: guessing
one right code among many wrong ones must not reset the count.

Two throttles guard each secret: one per session (a learner who mistypes is told when to try
again) and one for the whole server (a guesser who opens a new session for every try is slowed
down as well). The server-wide ones live in this module, not in a Streamlit cache, so clearing
the caches does not reset them.

Every method takes ``now`` (seconds, monotonic) so tests can move the clock by hand.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleRule:
    free: int  # failures in the window before waiting starts
    window_s: float  # how long a failure counts towards the waits
    base_wait_s: float  # the first wait after the free failures; doubles with each failure
    max_wait_s: float  # the longest single wait
    lockout_after: int | None = None  # this many failures within lockout_window_s …
    lockout_s: float = 0.0  # … close it for this long
    lockout_window_s: float | None = None  # default: window_s


class Throttle:
    """Failures in a sliding window, and how long the next attempt has to wait. Thread-safe."""

    def __init__(self, rule: ThrottleRule):
        self.rule = rule
        self._failures: deque[float] = deque()
        self._locked_until = -math.inf
        self._lock = threading.Lock()

    @property
    def _lockout_window_s(self) -> float:
        return self.rule.lockout_window_s or self.rule.window_s

    def _forget_old(self, now: float) -> None:
        keep = max(self.rule.window_s, self._lockout_window_s)
        while self._failures and self._failures[0] <= now - keep:
            self._failures.popleft()

    def _count(self, now: float, window_s: float) -> int:
        return sum(1 for t in self._failures if t > now - window_s)

    def wait_s(self, now: float | None = None) -> float:
        """Seconds until the next attempt is allowed (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget_old(now)
            if now < self._locked_until:
                return self._locked_until - now
            extra = self._count(now, self.rule.window_s) - self.rule.free
            if extra < 0 or not self._failures:
                return 0.0
            wait = min(self.rule.base_wait_s * 2**extra, self.rule.max_wait_s)
            return max(0.0, self._failures[-1] + wait - now)

    def failed(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget_old(now)
            self._failures.append(now)
            rule = self.rule
            if (
                rule.lockout_after is not None
                and self._count(now, self._lockout_window_s) >= rule.lockout_after
            ):
                self._locked_until = now + rule.lockout_s
                self._failures.clear()

    def failures(self, now: float | None = None) -> int:
        """Failures that still count towards the waits."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._forget_old(now)
            return self._count(now, self.rule.window_s)


def describe_wait(seconds: float) -> str:
    """``"12 seconds"``, ``"3 minutes"``: how long to wait, rounded up, in words."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


#: Resume codes typed in or given in an address (or an unsigned cookie): 5 failures a minute
#: per session cost nothing, then 2 s, 4 s, 8 s … up to 5 minutes between tries.
RESUME_PER_SESSION = ThrottleRule(free=5, window_s=60, base_wait_s=2, max_wait_s=300)
#: The whole server: 30 failed codes a minute from all sessions together, then everyone waits
#: 2 s, 4 s … up to 30 s between tries; 200 in ten minutes close resuming by code for ten
#: minutes. (Codes are 31^12 ≈ 7.9e17, so even the free rate finds nothing; the limit keeps
#: the database from being hammered.) tests/unit/test_throttle.py checks that a guesser who
#: waits exactly as long as asked reaches the lockout.
RESUME_SERVER = ThrottleRule(
    free=30,
    window_s=60,
    base_wait_s=2,
    max_wait_s=30,
    lockout_after=200,
    lockout_window_s=600,
    lockout_s=600,
)
#: The instructor password: 5 failures per session in 10 minutes, then 5 s, 10 s … up to 15
#: minutes; 10 failures close the box for this session for 15 minutes.
PASSWORD_PER_SESSION = ThrottleRule(
    free=5, window_s=600, base_wait_s=5, max_wait_s=900, lockout_after=10, lockout_s=900
)
#: The whole server: 10 failures in 10 minutes from all sessions, then everyone waits 5 s,
#: 10 s … up to a minute; 20 failures in 10 minutes close the password box for 15 minutes (an
#: instructor who signs in with an account is not affected).
PASSWORD_SERVER = ThrottleRule(
    free=10, window_s=600, base_wait_s=5, max_wait_s=60, lockout_after=20, lockout_s=900
)

#: The server-wide throttles (one per process, shared by every session).
SERVER_RESUME = Throttle(RESUME_SERVER)
SERVER_PASSWORD = Throttle(PASSWORD_SERVER)
