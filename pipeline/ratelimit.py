"""The account's quota, shared by every call: requests and tokens per sliding minute.

A 429 should be rare: the limiter is told each call's token cost before it is made (the
plan knows it) and corrected with the real usage afterwards. The provider's own window
starts a little after ours (the request has to reach it), so ours is a little longer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

WINDOW_S = 60.0
# Our window outlasts the provider's by this much, so an entry never expires here while
# the provider still counts it.
WINDOW_SLACK_S = 1.0


@dataclass(slots=True)
class _Entry:
    at: float
    tokens: int
    id: str


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    tokens: int
    waited_s: float


class RateLimiter(Protocol):
    def acquire(self, tokens: int) -> Reservation:
        """Blocks until one more request of `tokens` fits in the window, then counts it."""
        ...

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Replaces a reservation's estimate with what the call really used."""
        ...


def quota(rpm: int, tpm: int, headroom: float) -> tuple[int, int]:
    """The limits to enforce. Requests get the whole quota: the window's slack already
    keeps us behind the provider's clock, and a request count is exact. Tokens keep some
    headroom, because a call's output is only estimated when it is admitted."""
    return max(1, rpm), max(1, int(tpm * headroom))


class LocalRateLimiter:
    """A sliding-window limiter for the threads of one process."""

    def __init__(
        self,
        *,
        rpm: int,
        tpm: int,
        window_s: float = WINDOW_S + WINDOW_SLACK_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rpm, self.tpm, self.window_s = rpm, tpm, window_s
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._entries: deque[_Entry] = deque()

    def acquire(self, tokens: int) -> Reservation:
        tokens = min(
            tokens, self.tpm
        )  # a call bigger than the whole quota waits for an empty window
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                wait = self._wait_s(now, tokens)
                if wait <= 0:
                    reservation = Reservation(id=uuid.uuid4().hex, tokens=tokens, waited_s=waited)
                    self._entries.append(_Entry(now, tokens, reservation.id))
                    return reservation
            self._sleep(wait)
            waited += wait

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        with self._lock:
            for entry in self._entries:
                if entry.id == reservation.id:
                    entry.tokens = actual_tokens
                    return

    def _expire(self, now: float) -> None:
        while self._entries and self._entries[0].at <= now - self.window_s:
            self._entries.popleft()

    def _wait_s(self, now: float, tokens: int) -> float:
        """How long until the window has room for one more request of `tokens`."""
        wait = 0.0
        if len(self._entries) + 1 > self.rpm:
            # The entry whose expiry brings the count back under the limit.
            oldest = self._entries[len(self._entries) - self.rpm]
            wait = max(wait, oldest.at + self.window_s - now)
        used = sum(entry.tokens for entry in self._entries)
        if used + tokens > self.tpm:
            freed = 0
            for entry in self._entries:
                freed += entry.tokens
                if used - freed + tokens <= self.tpm:
                    wait = max(wait, entry.at + self.window_s - now)
                    break
        return max(wait, 0.0)
