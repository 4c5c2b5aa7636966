"""The heartbeat of a job's plan or finalize: a thread that marks the job alive while the
long work runs (a fetch of gigabytes, a probe, a dub's assembly), so the reaper neither
sends the step again nor judges the job stuck. A killed worker stops beating, and the
reaper takes the step back after LTB_REAPER_STALE_S of silence."""

from __future__ import annotations

import logging
import threading
import uuid

from ltb.db.engine import unit_of_work
from worker import repository as repo
from worker.context import WorkerContext

log = logging.getLogger("ltb.worker.heartbeat")


def interval_s(ctx: WorkerContext) -> float:
    """Four beats per stale period: one lost beat never makes a live step look silent."""
    return max(0.1, ctx.settings.reaper_stale_s / 4)


class JobHeartbeat:
    def __init__(self, ctx: WorkerContext, job_id: uuid.UUID) -> None:
        self.ctx, self.job_id = ctx, job_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> JobHeartbeat:
        self._beat()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stopped.wait(interval_s(self.ctx)):
            self._beat()

    def _beat(self) -> None:
        try:
            with unit_of_work(self.ctx.sessions) as session:
                repo.heartbeat(session, self.job_id)
        except Exception:
            log.warning("could not mark job %s alive", self.job_id, exc_info=True)
