"""In-task retries of transient faults: a storage hiccup or a dropped database connection
is retried where it happened, with exponential backoff and full jitter, rather than left
to a chunk's lease running out (which costs a claim and minutes). The reaper stays the
backstop for workers that die."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ltb.errors import LtbError
from ltb.settings import Settings
from pipeline.translate import RetryPolicy

log = logging.getLogger("ltb.worker.retry")

T = TypeVar("T")

# Error codes that say "try again soon" rather than "this job cannot be done".
TRANSIENT_CODES = frozenset({"storage_error"})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, LtbError):
        return exc.code in TRANSIENT_CODES
    if isinstance(exc, OperationalError | InterfaceError):
        return True  # the server went away, a connection was refused or reset
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def task_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.task_retry_attempts,
        base_s=settings.task_retry_base_s,
        max_s=settings.task_retry_max_s,
    )


def retrying(
    action: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`action()`, tried again after transient faults up to the policy's attempts; any
    other error, or the last transient one, is raised."""
    rng = rng or random.Random()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == policy.max_attempts or not is_transient(exc):
                raise
            delay = policy.delay_s(attempt, None, rng)
            log.warning(
                "%s failed (%s, attempt %d of %d); retrying in %.1f s",
                what,
                exc.code if isinstance(exc, LtbError) else type(exc).__name__,
                attempt,
                policy.max_attempts,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")
