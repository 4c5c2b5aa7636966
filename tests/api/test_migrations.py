"""The migrations go up, come down and go up again, on Postgres and on SQLite."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, MetaData, create_engine, inspect, text

from ltb.db.migrate import downgrade, upgrade

from support.postgres import fresh_database
from support.rollup import rollup_totals, usage_totals

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


@contextmanager
def _database_at_0002(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url, "0002")
        yield url
        return
    with fresh_database("rollup_data", revision="0002") as plain:
        yield plain.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_the_rollup_keyed_on_a_labels_hash_keeps_a_database_s_history(
    backend: str, tmp_path: Path
) -> None:
    """0002 → head on a database holding tenants, jobs and usage: the rollup still sums
    exactly the usage rows, and a label too big for a btree key no longer stops recording."""
    with _database_at_0002(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            tables = MetaData()
            tables.reflect(engine, only=["tenants", "jobs", "usage_records", "usage_daily_rollup"])
            with engine.begin() as connection:
                tenant = _tenant(connection, tables)
                for labels, records in (({"customer": "acme"}, 3), ({}, 4)):
                    job = _job(connection, tables, tenant, labels)
                    for _ in range(records):
                        _usage(connection, tables, tenant, job)
            before = rollup_totals(engine)
            assert before == usage_totals(engine) and len(before) == 2

            upgrade(url)

            assert rollup_totals(engine) == before
            assert "labels_key" in {
                c["name"] for c in inspect(engine).get_columns("usage_daily_rollup")
            }
            big = {"note": secrets.token_urlsafe(6_000)}
            with engine.begin() as connection:
                job = _job(connection, tables, tenant, big)
                _usage(connection, tables, tenant, job)
                _usage(connection, tables, tenant, job)
            after = rollup_totals(engine)
            assert after == usage_totals(engine) and len(after) == 3
            with engine.connect() as connection:
                stored = connection.execute(
                    text("SELECT labels FROM usage_daily_rollup WHERE requests = 2")
                ).scalar_one()
            assert (json.loads(stored) if isinstance(stored, str) else stored) == big
        finally:
            engine.dispose()


def _id(connection: Connection, value: uuid.UUID) -> uuid.UUID | str:
    """A UUID as the reflected column takes it: SQLite keeps 32 hex digits."""
    return value.hex if connection.dialect.name == "sqlite" else value


def _now() -> datetime:
    # Naive UTC, the way the application stores timestamps on SQLite; Postgres reads it as UTC.
    return datetime.now(UTC).replace(tzinfo=None)


def _tenant(connection: Connection, tables: MetaData) -> uuid.UUID:
    tenant_id = uuid.uuid4()
    connection.execute(
        tables.tables["tenants"].insert(),
        {
            "id": _id(connection, tenant_id),
            "name": f"t-{tenant_id.hex[:8]}",
            "allowed_prefixes": [],
            "webhook_secret": "s",
            "created_at": _now(),
        },
    )
    return tenant_id


def _job(
    connection: Connection, tables: MetaData, tenant_id: uuid.UUID, labels: dict[str, str]
) -> uuid.UUID:
    job_id = uuid.uuid4()
    now = _now()
    connection.execute(
        tables.tables["jobs"].insert(),
        {
            "id": _id(connection, job_id),
            "tenant_id": _id(connection, tenant_id),
            "source_uri": "s3://media/x/a.mp3",
            "target_lang": "en",
            "outputs": ["text"],
            "visual_context": False,
            "output_prefix": "s3://out/x/",
            "estimate_only": False,
            "labels": labels,
            "status": "succeeded",
            "chunks_total": 1,
            "chunks_done": 1,
            "warnings": [],
            "created_at": now,
            "updated_at": now,
        },
    )
    return job_id


def _usage(
    connection: Connection, tables: MetaData, tenant_id: uuid.UUID, job_id: uuid.UUID
) -> None:
    connection.execute(
        tables.tables["usage_records"].insert(),
        {
            "id": _id(connection, uuid.uuid4()),
            "tenant_id": _id(connection, tenant_id),
            "job_id": _id(connection, job_id),
            "chunk_idx": 0,
            "attempt": 1,
            "model": "qwen3-livetranslate-flash",
            "input_audio": 375,
            "input_video": 0,
            "input_text": 0,
            "output_text": 120,
            "output_audio": 0,
            "estimated": False,
            "outcome": "ok",
            "price_table": "illustrative-2025-12-01",
            "cost": Decimal("0.00495"),
            "currency": "USD",
            "limiter_wait_s": 0.0,
            "created_at": _now(),
        },
    )
