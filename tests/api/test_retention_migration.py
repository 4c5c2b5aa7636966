"""0010 on a database in use: tenants keep their outputs forever and no job is marked;
and the sweep's date arithmetic picks the same jobs on Postgres and on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Uuid, bindparam, create_engine, inspect, text
from sqlalchemy.orm import Session

from ltb.db.migrate import downgrade, upgrade
from ltb.db.models import Job, Tenant
from worker.retention_repository import due

from support.postgres import fresh_database

NEW_JOB_COLUMNS = {"retention_days", "deleted_at", "purge_started_at", "outputs_expired_at"}


@contextmanager
def _database_at_0008(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url, "0008")
        yield url
        return
    with fresh_database("retention", revision="0008") as plain:
        yield plain.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0010_keeps_every_output_of_existing_tenants_and_comes_down_again(
    backend: str, tmp_path: Path
) -> None:
    with _database_at_0008(backend, tmp_path) as url:
        engine = create_engine(url)
        tenant, job = uuid.uuid4(), uuid.uuid4()
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO tenants (id, name, read_prefixes, write_prefixes,"
                        " webhook_secret, created_at) VALUES (:id, 'acme', '[]', '[]', 's', :now)"
                    ).bindparams(bindparam("id", type_=Uuid())),
                    {"id": tenant, "now": datetime.now(UTC)},
                )
                connection.execute(
                    text(
                        "INSERT INTO jobs (id, tenant_id, source_uri, target_lang, outputs,"
                        " visual_context, output_prefix, estimate_only, labels, status,"
                        " chunks_total, chunks_done, warnings, created_at, updated_at,"
                        " finished_at) VALUES (:id, :tenant, 's3://media/acme/a.mp4', 'en',"
                        " '[\"text\"]', false, 's3://out/a/', false, '{}', 'succeeded', 1, 1,"
                        " '[]', :old, :old, :old)"
                    ).bindparams(bindparam("id", type_=Uuid()), bindparam("tenant", type_=Uuid())),
                    {"id": job, "tenant": tenant, "old": datetime(2020, 1, 1, tzinfo=UTC)},
                )
            # To the head: the ORM below reads the columns of every later revision too.
            upgrade(url)
            with Session(engine) as session:
                assert session.get_one(Tenant, tenant).retention_days is None
                row = session.get_one(Job, job)
                assert (row.retention_days, row.deleted_at, row.outputs_expired_at) == (
                    None,
                    None,
                    None,
                )
                # Kept forever: six years on, nothing is due.
                assert due(session, moment=datetime.now(UTC), limit=10) == []
            downgrade(url, "0008")
            columns = {c["name"] for c in inspect(engine).get_columns("jobs")}
            assert not columns & NEW_JOB_COLUMNS
            assert "retention_days" not in {
                c["name"] for c in inspect(engine).get_columns("tenants")
            }
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_the_sweep_finds_the_same_due_jobs_on_either_database(backend: str, tmp_path: Path) -> None:
    with _database_at_0008(backend, tmp_path) as url:
        upgrade(url)
        engine = create_engine(url)
        now = datetime.now(UTC)
        try:
            with Session(engine, expire_on_commit=False) as session:
                week = Tenant(name=f"week-{uuid.uuid4().hex[:6]}", retention_days=7)
                forever = Tenant(name=f"forever-{uuid.uuid4().hex[:6]}")
                session.add_all([week, forever])
                session.flush()

                def job(tenant: Tenant, finished_days_ago: float, **fields: object) -> Job:
                    row = Job(
                        tenant_id=tenant.id,
                        source_uri="s3://media/a.mp3",
                        target_lang="en",
                        outputs=["text"],
                        output_prefix="s3://out/a/",
                        status="succeeded",
                        finished_at=now - timedelta(days=finished_days_ago),
                        **fields,
                    )
                    session.add(row)
                    return row

                expired = job(week, 7.5)
                job(week, 6.5)
                shortened = job(week, 1.5, retention_days=1)
                job(forever, 1000)
                own_only = job(forever, 3, retention_days=2)
                marked = job(forever, 0, purge_started_at=now)
                session.commit()

                found = set(due(session, moment=now, limit=10))
        finally:
            engine.dispose()
    assert found == {expired.id, shortened.id, own_only.id, marked.id}
