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
from fastapi.testclient import TestClient
from sqlalchemy import (
    Connection,
    MetaData,
    Uuid,
    bindparam,
    create_engine,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Session

from api.app import create_app
from ltb.db.migrate import downgrade, upgrade
from ltb.db.models import Job, Tenant, UsageDaily
from ltb.settings import Settings
from ltb.tenancy import hash_key

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


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_allowed_prefixes_become_folder_read_grants_on_a_database_in_use(
    backend: str, tmp_path: Path
) -> None:
    if backend == "sqlite":
        _grants_migrate_in_use(f"sqlite:///{tmp_path / 'ltb.sqlite3'}", tmp_path)
        return
    with fresh_database("grants") as plain:
        url = plain.replace("postgresql://", "postgresql+psycopg://", 1)
        downgrade(url, "0002")
        _grants_migrate_in_use(url, tmp_path)


def _grants_migrate_in_use(url: str, tmp_path: Path) -> None:
    """Tenants, a key, jobs and usage written at revision 0002, then upgraded to head."""
    upgrade(url, "0002")
    initech, globex = uuid.uuid4(), uuid.uuid4()
    job = uuid.uuid4()
    key = f"ltb_test_{uuid.uuid4().hex}"
    now = datetime.now(UTC)

    def ident(value: uuid.UUID) -> object:
        # Reflected SQLite tables see the UUID columns as the CHAR(32) they store.
        return value.hex if url.startswith("sqlite") else value

    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine, only=["tenants", "api_keys", "jobs", "usage_records"])
        with engine.begin() as connection:
            connection.execute(
                insert(tables.tables["tenants"]),
                [
                    {
                        "id": ident(initech),
                        "name": "initech",
                        "allowed_prefixes": ["s3://media/initech", "s3://archive/initech/"],
                        "webhook_secret": "a" * 64,
                        "created_at": now,
                    },
                    {
                        "id": ident(globex),
                        "name": "globex",
                        "allowed_prefixes": [],
                        "webhook_secret": "b" * 64,
                        "created_at": now,
                    },
                ],
            )
            connection.execute(
                insert(tables.tables["api_keys"]),
                {
                    "id": ident(uuid.uuid4()),
                    "tenant_id": ident(initech),
                    "key_hash": hash_key(key),
                    "display_prefix": key[:12],
                    "created_at": now,
                },
            )
            connection.execute(
                insert(tables.tables["jobs"]),
                {
                    "id": ident(job),
                    "tenant_id": ident(initech),
                    "source_uri": "s3://media/initech/talk.mp4",
                    "target_lang": "en",
                    "outputs": ["text"],
                    "visual_context": False,
                    "output_prefix": f"s3://ltb-outputs/initech/{job}/",
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
            connection.execute(
                insert(tables.tables["usage_records"]),
                {
                    "id": ident(uuid.uuid4()),
                    "tenant_id": ident(initech),
                    "job_id": ident(job),
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
                    "created_at": now,
                    "limiter_wait_s": 0.0,
                },
            )

        upgrade(url)

        with Session(engine) as session:
            migrated = {t.name: t for t in session.scalars(select(Tenant))}
            assert migrated["initech"].read_prefixes == [
                "s3://media/initech/",
                "s3://archive/initech/",
            ]
            assert migrated["initech"].write_prefixes == []
            assert migrated["globex"].read_prefixes == migrated["globex"].write_prefixes == []
            assert session.get_one(Job, job).status == "succeeded"
            assert session.scalar(select(func.sum(UsageDaily.input_audio))) == 375
    finally:
        engine.dispose()

    # The migrated tenant, through the API: its key works, its grants are folders, and
    # its old read grant does not let it write.
    settings = Settings(
        profile="embedded",
        home=tmp_path / "home",
        database_url=url,
        broker_url="memory://",
        storage_root=tmp_path / "objects",
        output_bucket="ltb-outputs",
    )
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}

        def submit(**fields: str) -> tuple[int, str]:
            response = client.post(
                "/v1/jobs", json={"target_lang": "en", **fields}, headers=headers
            )
            return response.status_code, (response.json()["error"] or {}).get("code", "")

        assert submit(source_uri="s3://media/initech/b.mp4") == (202, "")
        assert submit(source_uri="s3://media/initech-secret/b.mp4") == (403, "source_not_allowed")
        assert submit(
            source_uri="s3://media/initech/b.mp4", output_prefix="s3://media/initech/out/"
        ) == (403, "output_not_allowed")
        assert submit(
            source_uri="s3://media/initech/b.mp4", output_prefix="s3://ltb-outputs/initech/x/"
        ) == (202, "")


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
        upgrade(url, "0005")
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


def test_0006_gives_existing_jobs_zero_attempts_and_their_last_update_as_progress() -> None:
    with fresh_database("migration_0006") as plain:
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


def test_0009_gives_existing_jobs_the_default_mix_and_postgres_checks_new_ones() -> None:
    with fresh_database("migration_0009") as plain:
        url = plain.replace("postgresql://", "postgresql+psycopg://", 1)
        downgrade(url, "0008")
        engine = create_engine(url)
        insert_job = (
            "INSERT INTO jobs (id, tenant_id, source_uri, target_lang, outputs, "
            "visual_context, output_prefix, estimate_only, labels, status, "
            "chunks_total, chunks_done, warnings, created_at, updated_at{columns}) VALUES "
            "('{job}', '00000000-0000-0000-0000-000000000001', 's3://media/acme/a.mp4', 'en', "
            "'[\"mp4\"]', false, 's3://ltb-outputs/acme/', false, '{{}}', 'queued', "
            "0, 0, '[]', now(), now(){values})"
        )
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO tenants (id, name, read_prefixes, write_prefixes, webhook_secret,"
                        " created_at) VALUES ('00000000-0000-0000-0000-000000000001', 'acme',"
                        " '[]', '[]', 's', now())"
                    )
                )
                connection.execute(
                    text(
                        insert_job.format(
                            job="00000000-0000-0000-0000-000000000002", columns="", values=""
                        )
                    )
                )
            upgrade(url)
            with engine.connect() as connection:
                row = connection.execute(text("SELECT dub_mix, duck_db FROM jobs")).one()
            assert tuple(row) == ("replace", -15.0)
            for columns, values in ((", dub_mix", ", 'karaoke'"), (", duck_db", ", -60")):
                with pytest.raises(Exception, match="ck_jobs_d"), engine.begin() as connection:
                    connection.execute(
                        text(
                            insert_job.format(job=str(uuid.uuid4()), columns=columns, values=values)
                        )
                    )
        finally:
            engine.dispose()
