"""The migrations go up, come down and go up again, on Postgres and on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

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


def test_0005_gives_existing_jobs_zero_attempts_and_their_last_update_as_progress() -> None:
    with fresh_database("migration_0005") as plain:
        url = plain.replace("postgresql://", "postgresql+psycopg://", 1)
        downgrade(url, "0002")
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO tenants (id, name, allowed_prefixes, webhook_secret, created_at) "
                        "VALUES ('00000000-0000-0000-0000-000000000001', 'acme', '[]', 's', now())"
                    )
                )
                connection.execute(
                    text(
                        "INSERT INTO jobs (id, tenant_id, source_uri, target_lang, outputs, "
                        "visual_context, output_prefix, estimate_only, labels, status, stage, "
                        "chunks_total, chunks_done, warnings, created_at, updated_at) VALUES "
                        "('00000000-0000-0000-0000-000000000002', "
                        "'00000000-0000-0000-0000-000000000001', 's3://media/acme/a.mp3', 'en', "
                        "'[\"text\"]', false, 's3://ltb-outputs/acme/', false, '{}', 'running', "
                        "'translating', 2, 1, '[]', now(), '2026-11-01T00:00:00Z')"
                    )
                )
            upgrade(url)
            with engine.connect() as connection:
                row = connection.execute(
                    text(
                        "SELECT plan_attempts, finalize_attempts, progress_at, updated_at FROM jobs"
                    )
                ).one()
        finally:
            engine.dispose()
    assert (row.plan_attempts, row.finalize_attempts) == (0, 0)
    assert row.progress_at == row.updated_at
