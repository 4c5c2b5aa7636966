"""Removing what only the service needed: a finished job's work objects, and the scratch
files of workers that were killed before they could remove their own.

- `_work/<job>/` holds chunk payloads sent by URL (and, for chunks done before the dub
  moved into the database, their dub audio), and `chunk_audio` the chunks' dubs; once the job
  has succeeded (or was cancelled) nothing reads the objects again (outputs, manifest and
  usage rows are elsewhere). A failed job keeps them: a retry reuses its finished chunks.
  A succeeded job keeps its chunks' dubs too: its later output revisions are built from them.
- On a worker's disk, `sources/.download-*` and `*.part` files are downloads cut short,
  `payloads/<id>/` a chunk's extracted media and `finalize-*` an assembly's folder. No task
  outlives LTB_TASK_TIME_LIMIT_S, so anything older belongs to no live task.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import unit_of_work
from ltb.errors import LtbError
from ltb.retention import work_folder
from ltb.settings import Settings
from ltb.storage import ObjectRef
from worker import repository as repo
from worker import retention_repository
from worker import sweep_repository as sweeps
from worker.context import WorkerContext

log = logging.getLogger("ltb.worker.cleanup")

# Each job is a listing and a delete or two: a few per sweep keep the reaper quick while
# the leftovers of earlier releases are worked through.
WORK_REMOVALS_PER_SWEEP = 20
# A cached source's file name: the content's SHA-256 (worker/fetch.py).
_SHA256 = re.compile(r"[0-9a-f]{64}")


def work_prefix(settings: Settings, job_id: uuid.UUID) -> ObjectRef:
    """The folder of one job's work objects (where the chunk step writes them)."""
    return ObjectRef.parse(work_folder(settings.work_prefix, job_id))


def remove_work(ctx: WorkerContext, job_id: uuid.UUID) -> int:
    """Deletes a finished job's work objects and records it; returns how many. A failure
    is logged, not raised: the job has ended, leftovers cost storage, not correctness,
    and the reaper tries again later."""
    try:
        removed = ctx.store.delete_prefix(work_prefix(ctx.settings, job_id))
    except LtbError as exc:
        log.warning("could not remove the work objects of job %s: %s", job_id, exc.message)
        return 0
    with unit_of_work(ctx.sessions) as session:
        # A cancelled job's dubs are never read again. A succeeded job keeps them: every
        # later output revision (a cue edit, a redone chunk) assembles dub.wav from them.
        repo.remove_chunk_audio(session, job_id, keep_if_succeeded=True)
        repo.mark_work_removed(session, job_id)
    return removed


def remove_finished_work(ctx: WorkerContext, *, limit: int = WORK_REMOVALS_PER_SWEEP) -> int:
    """Removes the work objects of jobs that ended without it: succeeded jobs whose
    finalize died just after, and cancelled jobs, once their chunks in flight (which may
    still write) have run out of time. Returns how many jobs were cleaned."""
    grace = datetime.now(UTC) - timedelta(seconds=ctx.settings.task_time_limit_s)
    with ctx.sessions() as session:
        job_ids = sweeps.jobs_with_work_left(session, ended_before=grace, limit=limit)
    for job_id in job_ids:
        remove_work(ctx, job_id)
    return len(job_ids)


def sweep_scratch(settings: Settings, *, older_than_s: float | None = None) -> int:
    """Removes scratch leftovers older than `older_than_s` (default: the task time limit);
    returns how many entries went."""
    age = settings.task_time_limit_s if older_than_s is None else older_than_s
    cutoff = time.time() - age
    removed = 0
    for path in _leftovers(settings):
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except FileNotFoundError:
            continue  # its owner, or another sweep, removed it first
        except OSError as exc:
            log.warning("could not remove the scratch leftover %s: %s", path, exc)
    if removed:
        log.info("removed %d scratch leftovers", removed)
    return removed


def forget_unknown_sources(
    settings: Settings, sessions: sessionmaker[Session], *, unused_for_s: float | None = None
) -> int:
    """Removes this machine's cached sources that no tenant's source maps to any more
    (the jobs that used them were deleted or expired: worker/retention.py). Returns how
    many went. Only copies unused for `unused_for_s` (default: the task time limit) go:
    every use touches a copy, and one just downloaded may not be recorded yet."""
    folder = settings.scratch_dir / "sources"
    if not folder.is_dir():
        return 0
    cutoff = time.time() - (settings.task_time_limit_s if unused_for_s is None else unused_for_s)
    cached = {
        path.name: path
        for path in folder.iterdir()
        if _SHA256.fullmatch(path.name) and path.is_file() and path.stat().st_mtime < cutoff
    }
    with sessions() as session:
        unknown = set(cached) - retention_repository.known_sources(session, sorted(cached))
    for name in unknown:
        cached[name].unlink(missing_ok=True)
    return len(unknown)


def _leftovers(settings: Settings) -> Iterator[Path]:
    scratch = settings.scratch_dir
    yield from _glob(scratch / "sources", ".download-*")
    yield from _glob(scratch / "sources", "*.part")
    yield from _glob(scratch / "payloads", "*")
    yield from _glob(scratch, "finalize-*")
    # The embedded store's half-written objects.
    yield from _glob(settings.storage_root / ".partial", "*")


def _glob(folder: Path, pattern: str) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(set(folder.glob(pattern)))
