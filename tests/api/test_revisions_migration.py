"""0011 on a database in use: existing usage becomes `translate` in a rollup keyed on
purpose too, a `redo` record gets a rollup row of its own, finished jobs are at output
revision 0; a downgrade folds the purposes back together and keeps the books."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, MetaData, create_engine, inspect, text

from ltb.db.migrate import downgrade, upgrade

from support.postgres import fresh_database
from support.rollup import rollup_totals, usage_totals


@contextmanager
def _database_at_0008(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url, "0008")
        yield url
        return
    with fresh_database("revisions", revision="0008") as plain:
        yield plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _id(connection: Connection, value: uuid.UUID) -> uuid.UUID | str:
    return value.hex if connection.dialect.name == "sqlite" else value


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert(engine: Engine, table: str, row: dict[str, Any]) -> None:
    tables = MetaData()
    tables.reflect(engine, only=[table])
    with engine.begin() as connection:
        ids = {k: _id(connection, v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}
        connection.execute(tables.tables[table].insert(), ids)


def _usage(engine: Engine, tenant: uuid.UUID, job: uuid.UUID, **extra: Any) -> None:
    _insert(
        engine,
        "usage_records",
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant,
            "job_id": job,
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
            **extra,
        },
    )


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0011_keys_the_rollup_on_purpose_and_keeps_the_books_both_ways(
    backend: str, tmp_path: Path
) -> None:
    with _database_at_0008(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            tenant, job = uuid.uuid4(), uuid.uuid4()
            _insert(
                engine,
                "tenants",
                {
                    "id": tenant,
                    "name": "acme",
                    "read_prefixes": [],
                    "write_prefixes": [],
                    "webhook_secret": "s",
                    "created_at": _now(),
                },
            )
            now = _now()
            _insert(
                engine,
                "jobs",
                {
                    "id": job,
                    "tenant_id": tenant,
                    "source_uri": "s3://media/acme/a.mp3",
                    "target_lang": "en",
                    "outputs": ["srt"],
                    "visual_context": False,
                    "output_prefix": "s3://out/acme/",
                    "estimate_only": False,
                    "labels": {},
                    "status": "succeeded",
                    "chunks_total": 1,
                    "chunks_done": 1,
                    "warnings": [],
                    "created_at": now,
                    "updated_at": now,
                },
            )
            _usage(engine, tenant, job)
            _usage(engine, tenant, job)
            before = rollup_totals(engine)

            upgrade(url, "0011")

            assert rollup_totals(engine) == before == usage_totals(engine)
            with engine.connect() as connection:
                assert (
                    connection.execute(text("SELECT output_revision FROM jobs")).scalar_one() == 0
                )
                purposes = connection.execute(
                    text("SELECT purpose, requests FROM usage_daily_rollup")
                ).all()
            assert [tuple(row) for row in purposes] == [("translate", 2)]
            _usage(engine, tenant, job, purpose="redo")
            with engine.connect() as connection:
                purposes = connection.execute(
                    text("SELECT purpose, requests FROM usage_daily_rollup ORDER BY purpose")
                ).all()
                daily = connection.execute(text("SELECT requests FROM usage_daily")).all()
            assert [tuple(row) for row in purposes] == [("redo", 1), ("translate", 2)]
            # The BI view keeps one row per day and dimension, purposes summed.
            assert [int(row[0]) for row in daily] == [3]
            assert rollup_totals(engine) == usage_totals(engine)

            downgrade(url, "0008")

            assert rollup_totals(engine) == usage_totals(engine)
            columns = {c["name"] for c in inspect(engine).get_columns("usage_daily_rollup")}
            assert "purpose" not in columns
            assert "job_cues" not in inspect(engine).get_table_names()
        finally:
            engine.dispose()
