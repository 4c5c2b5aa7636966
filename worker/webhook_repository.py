"""The webhook outbox's queries: the events due for an attempt, and one pending event
locked for its attempt or its outcome."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import WebhookEvent
from ltb.states import WebhookStatus


def due_event_ids(session: Session, moment: datetime, *, limit: int) -> list[uuid.UUID]:
    """Pending events whose next attempt is due at `moment`, the longest due first."""
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.status == WebhookStatus.PENDING, WebhookEvent.next_attempt_at <= moment
            )
            .order_by(WebhookEvent.next_attempt_at)
            .limit(limit)
        )
    )


def locked_pending_event(
    session: Session, event_id: uuid.UUID, *, skip_locked: bool = False
) -> WebhookEvent | None:
    """The event while it is still pending, locked for this transaction; with
    `skip_locked`, None when another worker holds it."""
    return session.scalar(
        select(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.status == WebhookStatus.PENDING)
        .with_for_update(skip_locked=skip_locked)
    )
