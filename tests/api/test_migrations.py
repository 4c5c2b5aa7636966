"""The migrations go up, come down and go up again, on Postgres and on SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Uuid, bindparam, create_engine, inspect, text

from ltb.db.migrate import downgrade, upgrade

from support.postgres import fresh_database

TABLES = {
    "tenants",
    "api_keys",
    "jobs",
    "chunks",
    "usage_records",
    "source_analyses",
    "source_objects",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_upgrade_downgrade_upgrade_round_trip(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url)
        _round_trip(url)
        return
    with fresh_database("migrations") as plain:  # fresh_database has run upgrade head already
        _round_trip(plain.replace("postgresql://", "postgresql+psycopg://", 1))


def _round_trip(url: str) -> None:
    assert _tables(url) >= TABLES
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) >= TABLES


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_the_provider_column_keeps_existing_jobs(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        _keeps_jobs(f"sqlite:///{tmp_path / 'ltb.sqlite3'}")
        return
    with fresh_database("provider") as plain:
        url = plain.replace("postgresql://", "postgresql+psycopg://", 1)
        downgrade(url, "0002")
        _keeps_jobs(url)


def _keeps_jobs(url: str) -> None:
    upgrade(url, "0002")
    tenant, job = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO tenants (id, name, allowed_prefixes, created_at, webhook_secret)"
                    " VALUES (:id, 'acme', :prefixes, :now, 'secret')"
                ).bindparams(bindparam("id", type_=Uuid())),
                {"id": tenant, "prefixes": '["s3://media/acme/"]', "now": datetime.now(UTC)},
            )
            connection.execute(
                text(
                    "INSERT INTO jobs (id, tenant_id, source_uri, target_lang, outputs,"
                    " visual_context, output_prefix, estimate_only, labels, status,"
                    " chunks_total, chunks_done, warnings, created_at, updated_at) VALUES"
                    " (:id, :tenant, 's3://media/acme/a.mp4', 'en', '[\"text\"]', false,"
                    " 's3://out/a/', false, '{}', 'succeeded', 1, 1, '[]', :now, :now)"
                ).bindparams(bindparam("id", type_=Uuid()), bindparam("tenant", type_=Uuid())),
                {"id": job, "tenant": tenant, "now": datetime.now(UTC)},
            )
        upgrade(url, "0007")
        with engine.connect() as connection:
            row = connection.execute(
                text("SELECT status, provider FROM jobs WHERE id = :id").bindparams(
                    bindparam("id", type_=Uuid())
                ),
                {"id": job},
            ).one()
        assert tuple(row) == ("succeeded", None)
        downgrade(url, "0002")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT status FROM jobs")).scalar_one() == "succeeded"
            assert "provider" not in {c["name"] for c in inspect(connection).get_columns("jobs")}
    finally:
        engine.dispose()
