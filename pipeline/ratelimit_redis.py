"""The account's quota for the whole fleet: LocalRateLimiter's sliding window, kept in Redis.

Every worker process on every machine shares one window, so each operation is one Lua
script (check and count cannot interleave), and every entry is stamped with the Redis
server's clock (TIME), so machines whose clocks disagree still agree on the window.

Layout, under one hash tag so a Redis Cluster keeps the three keys in one slot:
- `{name}:ids`     ZSET  reservation id -> admission time (µs, server clock)
- `{name}:tokens`  HASH  reservation id -> tokens
- `{name}:sum`     the tokens in the window, kept in step as entries expire or are settled
Admitting is O(log n), and each entry's expiry is paid once (ZRANGEBYSCORE, HDEL, DECRBY).
Only a request refused for tokens walks the entries oldest first to find when enough
expire; admission keeps the window at or under rpm entries, so that walk is short. A
prefix-sum index would make it O(log n) but has to be rebuilt on every settle.

Redis going away must not take the worker with it: acquire holds the call and retries
with capped exponential backoff. A restarted Redis has lost the window (the data is
disposable by design), so for one window after a restart the fleet may admit up to one
extra window's worth. The provider then answers 429, which translate.py retries with
backoff; rare by construction, and never how the service learns the limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from ltb.errors import LtbError
from pipeline.ratelimit import WINDOW_S, WINDOW_SLACK_S, Reservation

log = logging.getLogger("ltb.ratelimit")

# A restart takes seconds; asking more often than every few seconds only adds noise.
_BACKOFF_FIRST_S = 0.1
_BACKOFF_CAP_S = 5.0
# Waiters told the same expiry wake a little apart instead of all at once. Small, because
# every millisecond of it is a slot the window leaves unused.
_JITTER_CAP_S = 0.05
# What "Redis is not there right now" looks like; anything else is a bug and should raise.
_OUTAGE = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)

# Shared by both scripts. KEYS: ids, tokens, sum. ARGV[1]: window (µs), ARGV[2]: key TTL (ms).
_PRELUDE = """
local ids, toks, sum_key = KEYS[1], KEYS[2], KEYS[3]
local window_us, ttl_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
-- Expire in pages so unpack() never meets Lua's stack limit.
while true do
  local gone = redis.call('ZRANGEBYSCORE', ids, '-inf', now - window_us, 'LIMIT', 0, 500)
  if #gone == 0 then break end
  local freed = 0
  for _, n in ipairs(redis.call('HMGET', toks, unpack(gone))) do
    freed = freed + (tonumber(n) or 0)
  end
  redis.call('HDEL', toks, unpack(gone))
  redis.call('ZREM', ids, unpack(gone))
  redis.call('DECRBY', sum_key, freed)
end
local count = redis.call('ZCARD', ids)
local used = tonumber(redis.call('GET', sum_key) or '0')
-- An empty window holds no tokens, whatever a damaged sum says: heal it here.
if count == 0 and used ~= 0 then redis.call('DEL', sum_key); used = 0 end
"""

# ARGV[3]: reservation id, [4]: tokens, [5]: rpm, [6]: tpm.
# Returns {1, admission µs} or {0, µs until the request would fit}.
_ACQUIRE_BODY = """
local id, tokens = ARGV[3], tonumber(ARGV[4])
local rpm, tpm = tonumber(ARGV[5]), tonumber(ARGV[6])
-- A retry whose first try was admitted but whose reply was lost must not count twice.
local seen = redis.call('ZSCORE', ids, id)
if seen then return {1, tonumber(seen)} end
local wait = 0
if count >= rpm then
  -- The (count-rpm+1)-th oldest entry: its expiry brings the count under rpm.
  local e = redis.call('ZRANGE', ids, count - rpm, count - rpm, 'WITHSCORES')
  wait = tonumber(e[2]) + window_us - now
end
if used + tokens > tpm then
  -- Oldest first, the first expiry after which used + tokens fits.
  local freed, last, rank, fits = 0, nil, 0, false
  while not fits do
    local page = redis.call('ZRANGE', ids, rank, rank + 63, 'WITHSCORES')
    if #page == 0 then break end
    local page_ids = {}
    for i = 1, #page, 2 do page_ids[#page_ids + 1] = page[i] end
    for i, n in ipairs(redis.call('HMGET', toks, unpack(page_ids))) do
      freed = freed + (tonumber(n) or 0)
      last = tonumber(page[2 * i])
      if used - freed + tokens <= tpm then fits = true; break end
    end
    rank = rank + 64
  end
  -- Not fitting even when all expire means a call over tpm: it waits for an empty window.
  if last then wait = math.max(wait, last + window_us - now) end
end
if wait > 0 then return {0, wait} end
redis.call('ZADD', ids, now, id)
redis.call('HSET', toks, id, tokens)
redis.call('INCRBY', sum_key, tokens)
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl_ms) end
return {1, now}
"""

# ARGV[3]: reservation id, [4]: actual tokens. Returns {1} if settled, {0} if it had expired.
_SETTLE_BODY = """
local old = redis.call('HGET', toks, ARGV[3])
if not old then return {0} end
redis.call('HSET', toks, ARGV[3], ARGV[4])
redis.call('INCRBY', sum_key, tonumber(ARGV[4]) - tonumber(old))
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, ttl_ms) end
return {1}
"""


@dataclass(frozen=True, slots=True)
class _Script:
    source: str

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


_ACQUIRE = _Script(_PRELUDE + _ACQUIRE_BODY)
_SETTLE = _Script(_PRELUDE + _SETTLE_BODY)


@dataclass(frozen=True, slots=True)
class RedisReservation(Reservation):
    # The Redis server's clock, µs since the epoch: one clock for every machine.
    admitted_at_us: int


class RedisRateLimiter:
    """A sliding-window limiter shared by every process that names the same Redis and `name`."""

    def __init__(
        self,
        redis_url: str,
        *,
        rpm: int,
        tpm: int,
        name: str = "ltb:quota",
        window_s: float = WINDOW_S + WINDOW_SLACK_S,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_s: float | None = None,
    ) -> None:
        if rpm < 1 or tpm < 1 or window_s <= 0:
            raise ValueError("rpm, tpm and window_s must be positive")
        self.rpm, self.tpm, self.window_s, self.max_wait_s = rpm, tpm, window_s, max_wait_s
        self.keys = (f"{{{name}}}:ids", f"{{{name}}}:tokens", f"{{{name}}}:sum")
        self._window_us = round(window_s * 1_000_000)
        # Outlives the youngest entry by a little, so an idle fleet leaves nothing behind.
        self._ttl_ms = math.ceil(window_s * 1000) + 1000
        # One immediate retry replaces a pooled connection that went stale; waiting out an
        # outage is this class's job (with backoff and one warning), not the client's.
        self._redis = redis.Redis.from_url(
            redis_url, socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 1)
        )
        self._sleep = sleep
        self._lock = threading.Lock()
        self._outage_since: float | None = None
        # Seconds this instance has spent waiting in acquire (limit and outages), all threads.
        self.waited_s_total = 0.0

    def acquire(self, tokens: int) -> RedisReservation:
        tokens = max(0, min(tokens, self.tpm))  # bigger than the quota: wait for an empty window
        reservation_id = uuid.uuid4().hex  # the same id on every try: see the script
        waited_s, backoff_s = 0.0, _BACKOFF_FIRST_S
        while True:
            try:
                admitted, value = self._run(_ACQUIRE, reservation_id, tokens, self.rpm, self.tpm)
            except _OUTAGE as exc:
                self._note_outage(exc)
                # Jittered so a fleet does not reconnect in lockstep when Redis returns.
                delay_s = backoff_s * random.uniform(0.5, 1.0)
                backoff_s = min(backoff_s * 2, _BACKOFF_CAP_S)
            else:
                self._note_recovery()
                if admitted:
                    return RedisReservation(
                        id=reservation_id, tokens=tokens, waited_s=waited_s, admitted_at_us=value
                    )
                wait_s = value / 1_000_000
                delay_s = wait_s + random.uniform(0, min(_JITTER_CAP_S, wait_s / 10))
                backoff_s = _BACKOFF_FIRST_S
            if self.max_wait_s is not None and waited_s + delay_s > self.max_wait_s:
                cause = "Redis is unreachable" if self._outage_since else "the quota is in use"
                raise LtbError(
                    f"The account's rate limit would hold this call for more than "
                    f"{self.max_wait_s:g} s ({cause}); retry later or raise the wait limit.",
                    code="rate_limit_wait_exceeded",
                )
            self._sleep(delay_s)
            waited_s += delay_s
            with self._lock:
                self.waited_s_total += delay_s

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        try:
            self._run(_SETTLE, reservation.id, max(0, actual_tokens))
        except _OUTAGE as exc:
            # Best effort: the estimate stands until it expires, and the call is already made.
            self._note_outage(exc)
            log.debug("rate limiter: could not settle %s: %s", reservation.id, exc)
        else:
            self._note_recovery()

    def close(self) -> None:
        self._redis.close()

    def _run(self, script: _Script, *args: int | str) -> list[int]:
        """Runs a script by digest; a restarted Redis has forgotten it, so send it again."""
        keys_and_args = (*self.keys, self._window_us, self._ttl_ms, *args)
        try:
            reply = self._redis.evalsha(script.sha, len(self.keys), *keys_and_args)
        except NoScriptError:
            reply = self._redis.eval(script.source, len(self.keys), *keys_and_args)
        return [int(v) for v in reply]

    def _note_outage(self, exc: Exception) -> None:
        with self._lock:
            first = self._outage_since is None
            if first:
                self._outage_since = time.monotonic()
        if first:  # once per outage: a retry loop must not flood the log
            log.warning("rate limiter: Redis unreachable (%s); holding calls until it is back", exc)

    def _note_recovery(self) -> None:
        with self._lock:
            since, self._outage_since = self._outage_since, None
        if since is not None:
            log.info(
                "rate limiter: Redis is back after %.1f s; its window may have been lost",
                time.monotonic() - since,
            )
