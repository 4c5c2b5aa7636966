"""Deleting what the service wrote for a job (ltb/retention.py says when and why).

A deletion is marked (purge_started_at), done, then stamped (outputs_expired_at), and
every step may run twice: a run cut short by a crash or a storage error leaves the mark,
and the next sweep (the beat's `ltb.expire_outputs`) finishes it.

What goes, and how it is found without ever deleting a tenant's other files:
- outputs: a job whose output prefix is its own folder (the default, named after its id)
  loses that folder whole, revisions (`rev-N/`) and all. Under a tenant-chosen prefix,
  which may hold the tenant's own files and other jobs' outputs, only the files a job
  writes are deleted: its output kinds' file names and the manifest, at the prefix and in
  its `rev-N/` folders, and in each folder only while the manifest there is this job's
  (a later job writing to the same prefix has replaced them with its own);
- work objects (`<LTB_WORK_PREFIX>/<job>/`), the chunks' dubs and translations;
- the cached analysis and object hashes of its source, unless another job of the tenant
  still keeps outputs of it; then workers' copies of the bytes once no tenant's hashes
  name them and no task has used them for LTB_TASK_TIME_LIMIT_S (`forget_unknown_sources`:
  here, at every sweep of whichever worker runs it, and when `ltb worker` starts).
"""

from __future__ import annotations

import json
import logging
import re
import uuid

from ltb.db.engine import unit_of_work
from ltb.db.models import Job
from ltb.errors import LtbError
from ltb.outputs import MANIFEST_FILE, OUTPUTS
from ltb.retention import owns_output_folder, work_folder
from ltb.states import OutputKind
from ltb.storage import ObjectRef, ObjectStore
from worker import repository as repo
from worker import retention_repository as retention
from worker.cleanup import forget_unknown_sources
from worker.context import WorkerContext

log = logging.getLogger("ltb.worker.retention")

# Jobs deleted per sweep: each is a few listings and deletes.
PURGES_PER_SWEEP = 100
# A manifest larger than this is not read to learn whose it is (then it is kept).
MAX_MANIFEST_BYTES = 64 * 2**20
_REVISION = re.compile(r"^rev-\d+/$")


def expire_due(ctx: WorkerContext, *, limit: int = PURGES_PER_SWEEP) -> int:
    """Marks and deletes the jobs that are due; returns how many were stamped. A job
    whose deletion fails stays marked for the next sweep; the others go on."""
    moment = repo.now()
    with unit_of_work(ctx.sessions) as session:
        job_ids = retention.due(session, moment=moment, limit=limit)
        for job_id in job_ids:
            retention.mark(session, job_id, moment=moment)
    stamped = 0
    for job_id in job_ids:
        try:
            stamped += purge_job(ctx, job_id)
        except LtbError as exc:
            log.warning("could not delete the objects of job %s yet: %s", job_id, exc.message)
    forget_unknown_sources(ctx.settings, ctx.sessions)
    return stamped


def purge_requested(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """The task DELETE /v1/jobs/{id} sends. A storage error is logged, not raised: the
    job stays marked, and the sweep finishes it."""
    try:
        purge_job(ctx, job_id)
    except LtbError as exc:
        log.warning("could not delete the objects of job %s yet: %s", job_id, exc.message)


def purge_job(ctx: WorkerContext, job_id: uuid.UUID) -> bool:
    """Deletes everything written for a marked job, then stamps it. False when there was
    nothing to do (not marked, or done before). Storage errors are raised: the mark
    stays and the sweep tries again."""
    with ctx.sessions() as session:
        job = retention.to_purge(session, job_id)
        if job is None:
            return False
        session.expunge(job)
    removed = ctx.store.delete_objects(written_outputs(ctx.store, job))
    removed += ctx.store.delete_prefix(
        ObjectRef.parse(work_folder(ctx.settings.work_prefix, job.id))
    )
    with unit_of_work(ctx.sessions) as session:
        retention.forget_content(session, job)
        retention.forget_source(session, job)
    forget_unknown_sources(ctx.settings, ctx.sessions)
    with unit_of_work(ctx.sessions) as session:
        stamped = retention.stamp(session, job.id, moment=repo.now(), deliver=ctx.deliver_webhook)
    if stamped:
        log.info("deleted the %d objects written for job %s", removed, job.id)
    return stamped


def written_outputs(store: ObjectStore, job: Job) -> list[ObjectRef]:
    """The output objects the job wrote (and revised), and nothing else."""
    prefix = ObjectRef.parse(job.output_prefix)
    if owns_output_folder(job):
        return [item.ref for item in store.list(prefix)]
    names = {OUTPUTS[OutputKind(kind)].file_name for kind in job.outputs if kind in OUTPUTS}
    names.add(MANIFEST_FILE)
    folder = prefix.key
    by_folder: dict[str, list[ObjectRef]] = {}
    for item in store.list(prefix):
        rest = item.ref.key[len(folder) :]
        sub, _, name = rest.rpartition("/")
        sub = f"{sub}/" if sub else ""
        if name in names and (not sub or _REVISION.match(sub)):
            by_folder.setdefault(sub, []).append(item.ref)
    return [
        ref
        for sub, refs in by_folder.items()
        if _written_by(store, ObjectRef(prefix.bucket, folder + sub + MANIFEST_FILE), job.id)
        for ref in refs
    ]


def _written_by(store: ObjectStore, manifest: ObjectRef, job_id: uuid.UUID) -> bool:
    """Whether the files beside `manifest` are this job's: its manifest names it, or there
    is no manifest (a publish cut short before writing it)."""
    try:
        raw = store.get_bytes(manifest, max_bytes=MAX_MANIFEST_BYTES)
    except LtbError as exc:
        if exc.code == "source_not_found":
            return True
        raise
    try:
        owner = json.loads(raw)["job"]["job_id"]
    except (ValueError, KeyError, TypeError):
        return False  # not a manifest this service wrote: leave the folder alone
    return bool(owner == str(job_id))
