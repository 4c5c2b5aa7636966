"""What a worker process holds for its whole life: settings, database, storage, queue,
the provider client and the account-wide rate limiter.

Built lazily in each process: a prefork child must not share its parent's connections.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import ExitStack
from dataclasses import dataclass

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import session_factory
from ltb.pricing import PriceBook, load_price_book
from ltb.queue import DELIVER_WEBHOOK, make_celery
from ltb.settings import Settings, get_settings
from ltb.storage import ObjectStore, object_store
from pipeline.provider import ProviderClient, client_for, provider_endpoint
from pipeline.ratelimit import LocalRateLimiter, RateLimiter, quota
from pipeline.translate import RetryPolicy


@dataclass
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    queue: Celery
    prices: PriceBook
    client: ProviderClient
    limiter: RateLimiter
    policy: RetryPolicy
    # Names this process in chunk leases, so a lease can be traced to its holder.
    owner: str

    def deliver_webhook(self, event_id: uuid.UUID) -> None:
        """Sends a webhook delivery task (run after the event's transaction commits)."""
        self.queue.send_task(DELIVER_WEBHOOK, args=[str(event_id)])


_context: WorkerContext | None = None
_context_pid: int | None = None
_resources = ExitStack()


def worker_context() -> WorkerContext:
    """This process's context, built on first use."""
    global _context, _context_pid
    if _context is None or _context_pid != os.getpid():
        _context = _build(get_settings())
        _context_pid = os.getpid()
    return _context


def _build(settings: Settings) -> WorkerContext:
    rpm, tpm = quota(settings.quota_rpm, settings.quota_tpm, settings.quota_headroom)
    limiter: RateLimiter
    if settings.limiter_redis_url:
        from pipeline.ratelimit_redis import RedisRateLimiter

        limiter = RedisRateLimiter(settings.limiter_redis_url, rpm=rpm, tpm=tpm)
    else:
        limiter = LocalRateLimiter(rpm=rpm, tpm=tpm)
    return WorkerContext(
        settings=settings,
        sessions=session_factory(settings),
        store=object_store(settings),
        queue=make_celery(settings),
        prices=load_price_book(settings.price_table_file),
        client=_provider_client(settings),
        limiter=limiter,
        policy=RetryPolicy(
            max_attempts=settings.provider_max_attempts,
            base_s=settings.provider_backoff_base_s,
            max_s=settings.provider_backoff_max_s,
            max_retry_after_s=settings.provider_retry_after_max_s,
        ),
        owner=f"{socket.gethostname()}:{os.getpid()}",
    )


def _provider_client(settings: Settings) -> ProviderClient:
    # The embedded profile with no key gets the emulator in this process, kept for the
    # process's life; a worker started some other way than `ltb worker` chooses the same.
    return client_for(_resources.enter_context(provider_endpoint(settings)), settings)
