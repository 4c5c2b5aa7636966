"""Helpers for the job step tests: the tasks a step sent, and jobs in given states."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import unit_of_work
from ltb.db.models import Chunk, Job, Tenant
from ltb.queue import QUEUES, queue_depth
from ltb.storage import ObjectRef, ObjectStore
from worker.context import WorkerContext

from support.factories import JobFactory, TenantFactory, bind_factories

# make_ctx(store=..., **settings): a WorkerContext on the test's database, S3 and queue.
MakeContext = Callable[..., WorkerContext]


def purge(ctx: WorkerContext) -> None:
    """Empties the in-memory queues (they live as long as the test process)."""
    with ctx.queue.connection_for_write() as connection:
        for name in QUEUES:
            connection.default_channel.queue_purge(name)
    assert queue_depth(ctx.queue) == 0


def sent(ctx: WorkerContext) -> list[tuple[str, list[Any]]]:
    """The tasks sent so far, as (name, args), taken off the queue."""
    messages = []
    with ctx.queue.connection_for_write() as connection:
        for name in QUEUES:
            while (message := connection.default_channel.basic_get(name)) is not None:
                messages.append(
                    (message.headers["task"], list(message.decode()[0]))  # (args, kwargs, embed)
                )
    return messages


def new_tenant(sessions: sessionmaker[Session]) -> Tenant:
    with unit_of_work(sessions) as session:
        bind_factories(session)
        tenant: Tenant = TenantFactory()
    return tenant


def new_job(sessions: sessionmaker[Session], tenant: Tenant, **fields: Any) -> Job:
    with unit_of_work(sessions) as session:
        bind_factories(session)
        job_id = fields.pop("id", uuid.uuid4())
        job: Job = JobFactory(
            id=job_id,
            tenant_id=tenant.id,
            source_uri=fields.pop("source_uri", f"s3://media/{tenant.name}/{job_id}.mp3"),
            output_prefix=fields.pop("output_prefix", f"s3://ltb-outputs/{tenant.name}/{job_id}/"),
            **fields,
        )
    return job


def add_chunks(
    sessions: sessionmaker[Session], job: Job, statuses: Sequence[str], **fields: Any
) -> list[uuid.UUID]:
    """Five-second chunks of `job` with speech, one per status in timeline order; done
    ones carry a translation. `fields` apply to every chunk."""
    with unit_of_work(sessions) as session:
        chunks = [
            Chunk(
                tenant_id=job.tenant_id,
                job_id=job.id,
                idx=idx,
                start_s=idx * 5.0,
                end_s=idx * 5.0 + 5,
                speech=[[idx * 5.0, idx * 5.0 + 4]],
                status=status,
                result_text="Hi." if status == "done" else None,
                **fields,
            )
            for idx, status in enumerate(statuses)
        ]
        session.add_all(chunks)
        session.flush()
        return [chunk.id for chunk in chunks]


def upload(store: ObjectStore, uri: str, path: Path) -> str:
    store.upload_file(path, ObjectRef.parse(uri))
    return uri


def translated_job(ctx: WorkerContext, media_path: Path, **fields: Any) -> Job:
    """A job planned for real, whose chunks are then marked translated (text only), as
    the chunk step leaves them: ready to finalize."""
    from worker.plan_step import plan_job

    job = new_job(ctx.sessions, new_tenant(ctx.sessions), **fields)
    upload(ctx.store, job.source_uri, media_path)
    plan_job(ctx, job.id)
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE chunks SET status = 'done', result_text = 'Hello.', finished_at = now() "
            "WHERE job_id = %s AND status = 'pending'",
            (job.id,),
        )
        connection.execute("UPDATE jobs SET chunks_done = chunks_total WHERE id = %s", (job.id,))
    purge(ctx)
    return job
