"""deliver a webhook: the outbox row's subject as the API would show it now, signed with
the tenant's secret, POSTed until the receiver says 2xx or the retry window closes.

An attempt is counted, and its row leased until the POST's deadline has passed, in a
transaction of its own before anything is sent; so an attempt that dies on the way (a
soft time limit, a killed worker) still counts, and the window still ends its retries.
The lease also keeps a second worker off the event while the POST is in flight (no row
lock is held meanwhile); receivers still de-duplicate by LTB-Event-Id, because a
delivery whose 2xx was lost on the way back is sent again.
"""

from __future__ import annotations

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pydantic_core

from ltb import __version__
from ltb.db.engine import unit_of_work
from ltb.db.models import Batch, Job, Tenant, WebhookEvent
from ltb.errors import RequestRefused
from ltb.settings import Settings
from ltb.states import EventType, WebhookStatus
from ltb.views import batch_view, job_view
from ltb.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    Resolver,
    redact,
    resolve_callback,
    signature,
)
from worker import repository as repo
from worker import webhook_repository
from worker.context import WorkerContext
from worker.webhook_http import post

log = logging.getLogger("ltb.worker.webhooks")

BACKOFF_CAP_S = 3600.0
# Beyond the POST's own deadline, before a leased attempt that never reported is retried.
LEASE_GRACE_S = 30.0


@dataclass(frozen=True)
class _Claim:
    event_id: uuid.UUID
    event: str
    url: str
    attempt: int
    body: bytes
    secret: str


@dataclass(frozen=True)
class _Outcome:
    error: str | None
    # Never worth retrying: the URL now points inside the network.
    final: bool = False


def deliver(ctx: WorkerContext, event_id: uuid.UUID, *, resolver: Resolver | None = None) -> None:
    claim = _claim(ctx, event_id)
    if claim is None:
        return
    try:
        outcome = _attempt(ctx.settings, claim, resolver)
    except Exception as exc:
        # Celery's soft time limit lands here too: the attempt is recorded, then the task
        # ends the way Celery expects.
        log.warning(
            "webhook %s to %s: attempt %d died: %s",
            claim.event_id,
            redact(claim.url),
            claim.attempt,
            type(exc).__name__,
        )
        _record(ctx, claim, _Outcome(error=f"attempt died: {type(exc).__name__}"))
        raise
    _record(ctx, claim, outcome)


def _claim(ctx: WorkerContext, event_id: uuid.UUID) -> _Claim | None:
    """Counts the attempt and leases the event, committed before the POST is made."""
    settings = ctx.settings
    with unit_of_work(ctx.sessions) as session:
        event = webhook_repository.locked_pending_event(session, event_id, skip_locked=True)
        now = repo.now()
        if event is None or event.next_attempt_at > now:
            return None
        if event.attempts > 0 and _window_closed(settings, event):
            _give_up(event, event.last_error or "no answer")
            return None
        event.attempts += 1
        event.next_attempt_at = now + timedelta(
            seconds=max(_backoff_s(settings, event.attempts), settings.webhook_timeout_s)
            + LEASE_GRACE_S
        )
        return _Claim(
            event_id=event.id,
            event=event.event,
            url=event.url,
            attempt=event.attempts,
            body=pydantic_core.to_json(_subject(ctx, session, event)),
            secret=session.get_one(Tenant, event.tenant_id).webhook_secret,
        )


def _attempt(settings: Settings, claim: _Claim, resolver: Resolver | None) -> _Outcome:
    try:
        # Resolved and checked again at delivery: DNS may have changed since submission.
        # The POST then connects only to the addresses checked here.
        target = resolve_callback(
            claim.url, allow_private=settings.webhook_allow_private, resolver=resolver
        )
    except RequestRefused as exc:
        return _Outcome(error=exc.message, final=exc.code == "callback_url_not_allowed")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"livetranslate-batch/{__version__}",
        SIGNATURE_HEADER: signature(claim.secret, claim.body),
        EVENT_ID_HEADER: str(claim.event_id),
        EVENT_TYPE_HEADER: claim.event,
    }
    answer = post(target, claim.body, headers, deadline_s=settings.webhook_timeout_s)
    return _Outcome(error=answer.error)


def _record(ctx: WorkerContext, claim: _Claim, outcome: _Outcome) -> None:
    settings = ctx.settings
    with unit_of_work(ctx.sessions) as session:
        event = webhook_repository.locked_pending_event(session, claim.event_id)
        if event is None:
            return
        now = repo.now()
        if outcome.error is None:
            event.status, event.delivered_at, event.last_error = WebhookStatus.DELIVERED, now, None
        elif event.attempts != claim.attempt:
            return  # a later attempt holds the event now; its own outcome decides
        elif outcome.final or _window_closed(settings, event):
            _give_up(event, outcome.error)
        else:
            ceiling = _backoff_s(settings, event.attempts)
            event.next_attempt_at = now + timedelta(seconds=random.uniform(ceiling / 2, ceiling))
            event.last_error = outcome.error


def _backoff_s(settings: Settings, attempts: int) -> float:
    return float(min(BACKOFF_CAP_S, settings.webhook_backoff_base_s * 2 ** (attempts - 1)))


def _window_closed(settings: Settings, event: WebhookEvent) -> bool:
    return (repo.now() - event.created_at).total_seconds() > settings.webhook_retry_window_s


def _give_up(event: WebhookEvent, error: str) -> None:
    event.status, event.last_error = WebhookStatus.FAILED, error
    log.warning(
        "webhook %s to %s given up after %d attempts: %s",
        event.id,
        redact(event.url),
        event.attempts,
        error,
    )


def _subject(ctx: WorkerContext, session: object, event: WebhookEvent) -> dict[str, object]:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    if EventType(event.event).about_batch:
        return batch_view(session, session.get_one(Batch, event.subject_id))
    return job_view(
        session,
        session.get_one(Job, event.subject_id),
        store=ctx.store,
        presign_expiry_s=ctx.settings.presign_expiry_s,
    )
