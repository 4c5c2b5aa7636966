"""What every request shares: settings, the database, object storage, the task queue."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Celery
from fastapi import BackgroundTasks
from sqlalchemy.orm import Session, sessionmaker

from ltb.pricing import PriceBook
from ltb.queue import DELIVER_WEBHOOK
from ltb.settings import Settings
from ltb.storage import ObjectStore

log = logging.getLogger("ltb.api")


@dataclass
class ServiceContext:
    settings: Settings
    sessions: sessionmaker[Session]
    store: ObjectStore
    queue: Celery
    prices: PriceBook


@dataclass
class UnitOfWork:
    """A request's session, and the tasks to enqueue once its work is committed.

    Tasks are sent only after the commit: a task must never point at rows a rollback
    erased. They go out once the response is on its way (a background task), so the
    client never waits for the broker; if sending fails, or the process dies first, the
    rows stay queued and the reaper sends them later.
    """

    session: Session
    queue: Celery
    background: BackgroundTasks
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    def enqueue(self, task: str, *args: str) -> None:
        def send() -> None:
            self.queue.send_task(task, args=list(args))

        self._after_commit.append(send)

    def deliver_webhook(self, event_id: uuid.UUID) -> None:
        """Queues a webhook event's delivery task; ltb.lifecycle calls it after the commit."""

        def send() -> None:
            self.queue.send_task(DELIVER_WEBHOOK, args=[str(event_id)])

        self.background.add_task(_send_quietly, send)

    def commit(self) -> None:
        self.session.commit()
        pending, self._after_commit = self._after_commit, []
        for send in pending:
            self.background.add_task(_send_quietly, send)


def _send_quietly(send: Callable[[], None]) -> None:
    try:
        send()
    except Exception:
        log.warning("could not enqueue a task; the reaper will", exc_info=True)
