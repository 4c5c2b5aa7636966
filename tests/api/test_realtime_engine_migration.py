"""0014 on a database in use: existing jobs and usage are file-engine ones, image tokens
reach the rollup and both views, and a downgrade takes the columns away cleanly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, Uuid, bindparam, create_engine, inspect, text

from ltb.db.migrate import downgrade, upgrade

from support.postgres import fresh_database

IDS = {"id": Uuid(), "tenant": Uuid(), "job": Uuid()}


@contextmanager
def _database_at_0013(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url, "0013")
        yield url
        return
    with fresh_database("realtime_engine", revision="0013") as plain:
        yield plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _run(engine: Engine, sql: str, **values: object) -> None:
    params = [bindparam(name, type_=IDS[name]) for name in values if name in IDS]
    with engine.begin() as connection:
        connection.execute(text(sql).bindparams(*params), values)


def _usage(
    engine: Engine,
    job: uuid.UUID,
    tenant: uuid.UUID,
    *,
    image: int | None,
    purpose: str = "translate",
) -> None:
    columns = "id, tenant_id, job_id, chunk_idx, attempt, model, input_audio, input_video,"
    columns += " input_text, output_text, output_audio, estimated, outcome, created_at,"
    columns += " limiter_wait_s, currency, price_table, cost, purpose"
    values = ":id, :tenant, :job, 0, 1, 'm', 100, 0, 0, 10, 0, false, 'ok', :now, 0,"
    values += f" 'USD', 't', 1, '{purpose}'"
    if image is not None:
        columns += ", input_image, engine"
        values += f", {image}, 'realtime'"
    _run(
        engine,
        f"INSERT INTO usage_records ({columns}) VALUES ({values})",
        id=uuid.uuid4(),
        tenant=tenant,
        job=job,
        now=datetime.now(UTC),
    )


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0014_adds_the_engine_and_image_tokens_to_the_books(backend: str, tmp_path: Path) -> None:
    with _database_at_0013(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            tenant, job = uuid.uuid4(), uuid.uuid4()
            _run(
                engine,
                "INSERT INTO tenants (id, name, read_prefixes, write_prefixes, created_at,"
                " webhook_secret) VALUES (:tenant, 'acme', '[]', '[]', :now, 'secret')",
                tenant=tenant,
                now=datetime.now(UTC),
            )
            _run(
                engine,
                "INSERT INTO jobs (id, tenant_id, source_uri, target_lang, outputs,"
                " visual_context, output_prefix, estimate_only, labels, status, chunks_total,"
                " chunks_done, warnings, created_at, updated_at, plan_attempts,"
                " finalize_attempts) VALUES (:job, :tenant, 's3://media/acme/a.mp4', 'en',"
                " '[\"text\"]', false, 's3://out/a/', false, '{}', 'succeeded', 1, 1, '[]',"
                " :now, :now, 0, 0)",
                job=job,
                tenant=tenant,
                now=datetime.now(UTC),
            )
            _usage(engine, job, tenant, image=None)

            upgrade(url, "0014")
            with engine.connect() as connection:
                assert connection.execute(text("SELECT engine FROM jobs")).scalar_one() == "file"
                assert connection.execute(text("SELECT engine FROM usage_records")).all() == [
                    ("file",)
                ]
            _usage(engine, job, tenant, image=588, purpose="redo")
            with engine.connect() as connection:
                daily = connection.execute(
                    text(
                        "SELECT input_image_tokens, input_audio_tokens, total_tokens FROM usage_daily"
                    )
                ).one()
                costs = connection.execute(
                    text("SELECT input_image_tokens, total_tokens, requests FROM job_costs")
                ).one()
                by_purpose = connection.execute(
                    text(
                        "SELECT purpose, input_image, input_audio FROM usage_daily_rollup"
                        " ORDER BY purpose"
                    )
                ).all()
            assert tuple(daily) == (588, 200, 200 + 20 + 588)
            # 0011's purpose dimension survives the rebuild.
            assert [tuple(row) for row in by_purpose] == [("redo", 588, 100), ("translate", 0, 100)]
            assert tuple(costs) == (588, 200 + 20 + 588, 2)

            downgrade(url, "0013")
            with engine.connect() as connection:
                columns = {c["name"] for c in inspect(connection).get_columns("usage_records")}
                assert not {"engine", "input_image"} & columns
                assert "engine" not in {c["name"] for c in inspect(connection).get_columns("jobs")}
                assert connection.execute(
                    text("SELECT input_audio_tokens, requests FROM usage_daily")
                ).one() == (200, 2)
                assert connection.execute(
                    text("SELECT purpose, requests FROM usage_daily_rollup ORDER BY purpose")
                ).all() == [("redo", 1), ("translate", 1)]
                assert "input_image" not in {
                    c["name"] for c in inspect(connection).get_columns("usage_daily_rollup")
                }
            upgrade(url, "0014")
        finally:
            engine.dispose()
