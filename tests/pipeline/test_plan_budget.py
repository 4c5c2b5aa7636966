"""A plan refused for its budget leaves nothing a retry could send to the provider.

The plan step runs in this process against a real Postgres and the embedded object
store; the provider is never reached, which is the point.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job, Tenant
from ltb.settings import Settings
from worker.context import WorkerContext, _build
from worker.plan_step import plan_job

from support.library import MediaLibrary
from support.postgres import fresh_database


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_database("plan_budget") as url:
        yield url


@pytest.fixture
def ctx(database_url: str, tmp_path: Path) -> WorkerContext:
    settings = Settings(
        profile="embedded",
        home=tmp_path / "home",
        database_url=database_url,
        broker_url="memory://",
        storage_root=tmp_path / "objects",
        scratch_dir=tmp_path / "scratch",
        # A key and an address nothing listens on: no request may leave this test.
        dashscope_api_key="sk-never-used",
        provider_base_url="http://127.0.0.1:9/v1",
    )
    return _build(settings)


def test_a_plan_over_budget_fails_the_job_and_leaves_no_chunk_to_claim(
    ctx: WorkerContext, media: MediaLibrary
) -> None:
    name = f"budget-{uuid.uuid4().hex[:8]}"
    folder = ctx.settings.storage_root / "media" / name
    folder.mkdir(parents=True)
    shutil.copy(media.speech_wav, folder / "talk.wav")
    with ctx.sessions() as session, session.begin():
        tenant = Tenant(name=name, read_prefixes=[f"s3://media/{name}/"])
        session.add(tenant)
        session.flush()
        job = Job(
            tenant_id=tenant.id,
            source_uri=f"s3://media/{name}/talk.wav",
            target_lang="fr",
            outputs=["text"],
            output_prefix=f"s3://ltb-outputs/{name}/x/",
            budget_max_input_tokens=10,
            status="queued",
        )
        session.add(job)
        session.flush()
        job_id = job.id

    plan_job(ctx, job_id)

    with ctx.sessions() as session:
        ended = session.get_one(Job, job_id)
        assert (ended.status, ended.error_code) == ("failed", "budget_exceeded")
        assert ended.est_input_tokens and ended.est_input_tokens > 10
        assert _chunks(session, job_id) == []
        # Queued again by hand (as a retry once did), the plan is made and refused again.
        ended.status = "queued"
        session.commit()
    plan_job(ctx, job_id)
    with ctx.sessions() as session:
        again = session.get_one(Job, job_id)
        assert (again.status, again.error_code) == ("failed", "budget_exceeded")
        assert _chunks(session, job_id) == []


def _chunks(session: Session, job_id: uuid.UUID) -> list[str]:
    return list(session.scalars(select(Chunk.status).where(Chunk.job_id == job_id)))
