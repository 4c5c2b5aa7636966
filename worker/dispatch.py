"""dispatch: admit waiting chunks to the task queue, fairly between tenants, up to the
fleet's window (LTB_DISPATCH_WINDOW_CHUNKS chunks in flight).

A plan leaves its chunks `pending` in Postgres instead of sending a task for each; this
step sends them as room frees: after a plan is recorded, after every chunk task, and at
every reaper sweep (which also re-sends admitted chunks whose messages were lost). The
choice is worker/dispatch_repository.py's; the admission mark commits before the tasks
are sent, so a crash in between leaves admitted chunks without messages, which the
reaper sends again. Nothing is lost with Redis: the backlog lives in Postgres.
"""

from __future__ import annotations

import logging
import uuid

from ltb.db.engine import unit_of_work
from ltb.queue import TRANSLATE_CHUNK
from worker import dispatch_repository as repo
from worker.context import WorkerContext
from worker.repository import now

log = logging.getLogger("ltb.worker.dispatch")


def dispatch(ctx: WorkerContext) -> list[uuid.UUID]:
    """Admits what fits in the window; returns the chunks whose tasks it sent."""
    window = ctx.settings.dispatch_window_chunks
    with unit_of_work(ctx.sessions) as session:
        repo.lock_dispatch(session)
        busy = sum(repo.in_flight_by_tenant(session).values())
        admitted = repo.admit(
            session, repo.next_chunks(session, free_slots=window - busy), moment=now()
        )
    for chunk_id in admitted:
        ctx.queue.send_task(TRANSLATE_CHUNK, args=[str(chunk_id)])
    return admitted


def dispatch_quietly(ctx: WorkerContext) -> None:
    """For the end of a task: a failure here must not fail the task; the reaper dispatches."""
    try:
        dispatch(ctx)
    except Exception:
        log.warning("could not admit the next chunks; the reaper will", exc_info=True)
