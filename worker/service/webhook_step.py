"""deliver a webhook: the outbox row's subject as the API would show it now, signed with
the tenant's secret, POSTed until the receiver says 2xx or the retry window closes.

The row stays locked while its POST is in flight, so two workers never deliver the same
event at once; receivers still de-duplicate by LTB-Event-Id, because a delivery whose
2xx was lost on the way back is sent again.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta

import httpx
import pydantic_core
from sqlalchemy import select

from ltb import __version__
from ltb.db.engine import unit_of_work
from ltb.db.models import Batch, Job, Tenant, WebhookEvent
from ltb.errors import RequestRefused
from ltb.views import batch_view, job_view
from ltb.webhooks import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    check_callback_url,
    signature,
)
from worker.service import repository as repo
from worker.service.context import WorkerContext

log = logging.getLogger("ltb.worker.webhooks")

BACKOFF_CAP_S = 3600.0


def deliver(ctx: WorkerContext, event_id: uuid.UUID) -> None:
    settings = ctx.settings
    with unit_of_work(ctx.sessions) as session:
        event = session.scalar(
            select(WebhookEvent)
            .where(WebhookEvent.id == event_id, WebhookEvent.status == "pending")
            .with_for_update(skip_locked=True)
        )
        if event is None or event.next_attempt_at > repo.now():
            return
        secret = session.get_one(Tenant, event.tenant_id).webhook_secret
        body = pydantic_core.to_json(_subject(ctx, session, event))
        try:
            # Checked again at delivery: DNS may have changed since the URL was accepted.
            check_callback_url(event.url, allow_private=settings.webhook_allow_private)
        except RequestRefused as exc:
            event.status, event.last_error = "failed", exc.message
            return
        error = _post(event, body, secret, timeout_s=settings.webhook_timeout_s)
        event.attempts += 1
        now = repo.now()
        if error is None:
            event.status, event.delivered_at, event.last_error = "delivered", now, None
        elif (now - event.created_at).total_seconds() > settings.webhook_retry_window_s:
            event.status, event.last_error = "failed", error
            log.warning(
                "webhook %s to %s given up after %d attempts: %s",
                event.id,
                event.url,
                event.attempts,
                error,
            )
        else:
            ceiling = min(
                BACKOFF_CAP_S, settings.webhook_backoff_base_s * 2 ** (event.attempts - 1)
            )
            event.next_attempt_at = now + timedelta(seconds=random.uniform(ceiling / 2, ceiling))
            event.last_error = error


def _subject(ctx: WorkerContext, session: object, event: WebhookEvent) -> dict[str, object]:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    if event.event.startswith("batch."):
        return batch_view(session, session.get_one(Batch, event.subject_id))
    return job_view(
        session,
        session.get_one(Job, event.subject_id),
        store=ctx.store,
        presign_expiry_s=ctx.settings.presign_expiry_s,
    )


def _post(event: WebhookEvent, body: bytes, secret: str, *, timeout_s: float) -> str | None:
    """POSTs the event; None on a 2xx, else what went wrong."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"livetranslate-batch/{__version__}",
        SIGNATURE_HEADER: signature(secret, body),
        EVENT_ID_HEADER: str(event.id),
        EVENT_TYPE_HEADER: event.event,
    }
    try:
        response = httpx.post(
            event.url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
