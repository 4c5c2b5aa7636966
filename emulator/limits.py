"""Per-key quota: sliding 60-second windows on requests and on tokens.

Requests are counted when admitted. Tokens are counted as the provider spends them: the
input when the request is admitted (it must fit in what is left of the window), then the
output as each piece is produced. A refusal says when to come back (Retry-After).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from emulator.errors import rate_limited

WINDOW_S = 60.0


@dataclass
class _KeyWindow:
    requests: deque[float] = field(default_factory=deque)
    tokens: deque[tuple[float, int]] = field(default_factory=deque)
    token_sum: int = 0

    def expire(self, now: float) -> None:
        while self.requests and self.requests[0] <= now - WINDOW_S:
            self.requests.popleft()
        while self.tokens and self.tokens[0][0] <= now - WINDOW_S:
            self.token_sum -= self.tokens.popleft()[1]


class QuotaWindows:
    def __init__(self, *, rpm: int, tpm: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyWindow] = {}

    def _window(self, key: str, now: float) -> _KeyWindow:
        window = self._keys.setdefault(key, _KeyWindow())
        window.expire(now)
        return window

    def admit_request(self, key: str) -> None:
        """Counts one request for `key`, or refuses it with 429 limit_requests."""
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            if len(window.requests) >= self.rpm:
                wait_s = window.requests[0] + WINDOW_S - now
                raise rate_limited(
                    "limit_requests",
                    f"Requests rate limit exceeded ({self.rpm} requests per minute), "
                    "please try again later.",
                    retry_after_s=_whole_seconds(wait_s),
                )
            window.requests.append(now)

    def admit_tokens(self, key: str, tokens: int) -> None:
        """Counts a request's input tokens, or refuses it with 429 insufficient_quota."""
        with self._lock:
            now = self._clock()
            window = self._window(key, now)
            if window.token_sum + tokens > self.tpm:
                raise rate_limited(
                    "insufficient_quota",
                    f"Allocated quota exceeded ({self.tpm} tokens per minute; this request "
                    f"needs {tokens}), please retry later or increase your quota limit.",
                    retry_after_s=_whole_seconds(self._wait_for(window, tokens, now)),
                )
            self._add(window, now, tokens)

    def add_tokens(self, key: str, tokens: int) -> None:
        """Counts output tokens as they are produced; never refuses, the stream is underway."""
        if tokens <= 0:
            return
        with self._lock:
            now = self._clock()
            self._add(self._window(key, now), now, tokens)

    def reset(self) -> None:
        with self._lock:
            self._keys.clear()

    def _add(self, window: _KeyWindow, now: float, tokens: int) -> None:
        window.tokens.append((now, tokens))
        window.token_sum += tokens

    def _wait_for(self, window: _KeyWindow, tokens: int, now: float) -> float:
        """Seconds until enough of the window expires for `tokens` more to fit."""
        excess = window.token_sum + tokens - self.tpm
        freed = 0
        for at, spent in window.tokens:
            freed += spent
            if freed >= excess:
                return at + WINDOW_S - now
        return WINDOW_S  # the request alone is larger than the quota


def _whole_seconds(wait_s: float) -> int:
    return max(1, math.ceil(wait_s))
