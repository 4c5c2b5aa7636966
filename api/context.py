"""What every request shares: settings, the database, object storage, the task queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import after_commit
from ltb.pricing import PriceBook
from ltb.queue import DELIVER_WEBHOOK
from ltb.settings import Settings
from ltb.storage import ObjectStore


@dataclass
class ServiceContext:
    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    queue: Celery
    prices: PriceBook


@dataclass
class UnitOfWork:
    """A request's session, and the tasks to send once the request's transaction commits.

    It never commits: the request's session dependency (`api.deps.get_transaction`) does,
    after the handler returns, and then sends what waits in the session's after-commit
    queue once the response is on its way, so the client never waits for the broker. If
    sending fails, or the process dies first, the rows stay queued and the reaper sends
    them later.
    """

    session: Session
    queue: Celery

    def enqueue(self, task: str, *args: str) -> None:
        def send() -> None:
            self.queue.send_task(task, args=list(args))

        after_commit(self.session, send)

    def deliver_webhook(self, event_id: uuid.UUID) -> None:
        """Sends a webhook event's delivery task; ltb.lifecycle queues this call after the commit."""
        self.queue.send_task(DELIVER_WEBHOOK, args=[str(event_id)])
