"""Each tenant's API request rate: a token bucket per tenant, so one tenant's flood is
answered with 429 and Retry-After while everyone else is served.

With Redis configured (LTB_REDIS_URL, or a Redis broker) the buckets live there and every
API process draws from the same one; otherwise each process keeps its own.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Annotated, Protocol

import redis
from fastapi import Depends, Request

from api.deps import TenantDep
from api.errors import ApiError
from ltb.settings import Settings

log = logging.getLogger("ltb.api")


class TenantRateLimiter(Protocol):
    def take(self, tenant: str) -> float:
        """Takes one request's token; returns 0, or the seconds until a token is back."""
        ...


class LocalBuckets:
    """Buckets in this process: right for one API process, or when there is no Redis."""

    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(tenant, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[tenant] = (tokens - 1, now)
                return 0.0
            self._buckets[tenant] = (tokens, now)
            return (1 - tokens) / self.rate


# One round trip, atomic: refill by the time elapsed (Redis's own clock, so API hosts need
# not agree on theirs), take a token or say how long until one is back.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + (now - at) * rate / 1000000)
local wait_us = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait_us = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait_us
"""


class RedisBuckets:
    """Buckets in Redis, shared by every API process."""

    def __init__(self, url: str, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._take = self._client.register_script(_TAKE)

    def take(self, tenant: str) -> float:
        try:
            wait_us = self._take(keys=[f"ltb:api-rate:{tenant}"], args=[self.rate, self.burst])
        except redis.RedisError:
            # The limiter protects the API; it must not take the API down with Redis.
            log.warning("the API rate limiter cannot reach Redis; not limiting", exc_info=True)
            return 0.0
        return int(wait_us) / 1_000_000


def rate_limiter(settings: Settings) -> TenantRateLimiter | None:
    """The configured limiter, or None when LTB_API_RATE_PER_TENANT_RPS is 0."""
    rate, burst = settings.api_rate_per_tenant_rps, settings.api_rate_burst
    if rate <= 0:
        return None
    url = settings.limiter_redis_url
    if url:
        return RedisBuckets(url, rate=rate, burst=burst)
    return LocalBuckets(rate=rate, burst=burst)


def enforce_rate_limit(request: Request, tenant: TenantDep) -> None:
    """A dependency of every tenant route: 429 with Retry-After past the tenant's rate."""
    limiter: TenantRateLimiter | None = request.app.state.rate_limiter
    if limiter is None:
        return
    wait_s = limiter.take(str(tenant.id))
    if wait_s > 0:
        retry_after = max(1, math.ceil(wait_s))
        raise ApiError(
            429,
            "rate_limited",
            f"this tenant is over its API request rate; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


RateLimited = Annotated[None, Depends(enforce_rate_limit)]
