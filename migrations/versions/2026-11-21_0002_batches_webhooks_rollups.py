"""Batches, the webhook outbox, the daily usage rollup and the reporting views

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

The rollup is maintained by triggers on usage_records, on Postgres and on SQLite alike,
so a month's report reads a few hundred rows whatever the number of requests, and the
rollup can never drift from the rows it sums. The views usage_daily and job_costs are
the documented surface for BI tools (README, "Cost reports").
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)
KINDS = ("input_audio", "input_video", "input_text", "output_text", "output_audio")
KEY = "tenant_id, day, model, target_lang, source_lang, batch_id, labels, currency, price_table"


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("source_prefix", sa.Text(), nullable=True),
        sa.Column("target_langs", JSON, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("jobs_total", sa.Integer(), nullable=False),
        sa.Column("jobs_finished", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("completed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_batches_tenant_idempotency_key"),
    )
    op.create_index("ix_batches_tenant_created", "batches", ["tenant_id", "created_at", "id"])
    op.create_table(
        "usage_daily_rollup",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("target_lang", sa.String(length=8), nullable=False),
        sa.Column("source_lang", sa.String(length=8), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("price_table", sa.String(length=64), nullable=False),
        *[sa.Column(kind, sa.BigInteger(), nullable=False) for kind in KINDS],
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("rate_limited", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=20, scale=8), nullable=False),
        sa.Column("limiter_wait_s", sa.Float(), nullable=False),
        sa.Column("request_s", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint(*[c.strip() for c in KEY.split(",")]),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_events_due", "webhook_events", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_events_subject", "webhook_events", ["subject_id", "event"])
    op.create_index("ix_webhook_events_tenant_id", "webhook_events", ["tenant_id"])

    with op.batch_alter_table("chunks") as chunks:
        chunks.add_column(sa.Column("started_at", WHEN, nullable=True))
        chunks.add_column(sa.Column("finished_at", WHEN, nullable=True))
    op.create_index(
        "ix_chunks_done_finished",
        "chunks",
        ["finished_at"],
        postgresql_where=sa.text("status = 'done'"),
        sqlite_where=sa.text("status = 'done'"),
    )
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("callback_url", sa.Text(), nullable=True))
        jobs.create_foreign_key("fk_jobs_batch_id_batches", "batches", ["batch_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("source_analyses") as analyses:
        analyses.add_column(sa.Column("runs", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("usage_records") as usage:
        usage.add_column(sa.Column("limiter_wait_s", sa.Float(), nullable=False, server_default="0"))
        usage.add_column(sa.Column("duration_s", sa.Float(), nullable=True))

    # Every existing tenant gets its own webhook secret, then the column is required.
    with op.batch_alter_table("tenants") as tenants:
        tenants.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    for (tenant_id,) in connection.execute(sa.text("SELECT id FROM tenants")).all():
        connection.execute(
            sa.text("UPDATE tenants SET webhook_secret = :secret WHERE id = :id"),
            {"secret": secrets.token_hex(32), "id": tenant_id},
        )
    with op.batch_alter_table("tenants") as tenants:
        tenants.alter_column("webhook_secret", nullable=False)

    dialect = connection.dialect.name
    for statement in _rollup_triggers(dialect):
        op.execute(statement)
    op.execute(_rollup_backfill(dialect))
    for statement in _views(dialect):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS job_costs")
    op.execute("DROP VIEW IF EXISTS usage_daily")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS usage_records_rollup ON usage_records")
        op.execute("DROP FUNCTION IF EXISTS ltb_usage_rollup()")
    else:
        for operation in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS usage_records_rollup_{operation}")
    with op.batch_alter_table("tenants") as tenants:
        tenants.drop_column("webhook_secret")
    with op.batch_alter_table("usage_records") as usage:
        usage.drop_column("duration_s")
        usage.drop_column("limiter_wait_s")
    with op.batch_alter_table("source_analyses") as analyses:
        analyses.drop_column("runs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint("fk_jobs_batch_id_batches", type_="foreignkey")
        jobs.drop_column("callback_url")
    op.drop_index("ix_chunks_done_finished", table_name="chunks")
    with op.batch_alter_table("chunks") as chunks:
        chunks.drop_column("finished_at")
        chunks.drop_column("started_at")
    op.drop_index("ix_webhook_events_tenant_id", table_name="webhook_events")
    op.drop_index("ix_webhook_events_subject", table_name="webhook_events")
    op.drop_index("ix_webhook_events_due", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_table("usage_daily_rollup")
    op.drop_index("ix_batches_tenant_created", table_name="batches")
    op.drop_table("batches")


# --- the rollup ------------------------------------------------------------------------


def _dimensions(dialect: str, row: str) -> dict[str, str]:
    """SQL for each rollup key column, from a usage row alias and the job `j`."""
    if dialect == "postgresql":
        day = f"({row}.created_at AT TIME ZONE 'UTC')::date"
        batch = "coalesce(j.batch_id::text, '')"
    else:
        day = f"date({row}.created_at)"
        # SQLite holds UUIDs as 32 hex digits; the rollup uses the dashed form everywhere.
        parts = "||'-'||".join(f"substr(j.batch_id, {a}, {n})" for a, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)))
        batch = f"CASE WHEN j.batch_id IS NULL THEN '' ELSE lower({parts}) END"
    return {
        "tenant_id": f"{row}.tenant_id",
        "day": day,
        "model": f"{row}.model",
        "target_lang": "j.target_lang",
        "source_lang": "coalesce(j.source_lang, 'auto')",
        "batch_id": batch,
        "labels": "j.labels",
        "currency": f"coalesce({row}.currency, '')",
        "price_table": f"coalesce({row}.price_table, '')",
    }


def _measures(row: str, sign: str) -> dict[str, str]:
    measures = {kind: f"{sign} * {row}.{kind}" for kind in KINDS}
    measures["requests"] = sign
    measures["rate_limited"] = f"{sign} * (CASE WHEN {row}.outcome = 'provider_rate_limited' THEN 1 ELSE 0 END)"
    measures["cost"] = f"{sign} * coalesce({row}.cost, 0)"
    measures["limiter_wait_s"] = f"{sign} * coalesce({row}.limiter_wait_s, 0)"
    measures["request_s"] = f"{sign} * coalesce({row}.duration_s, 0)"
    return measures


def _upsert(dialect: str, row: str, sign: str) -> str:
    """Adds `sign` × one usage row to its rollup row."""
    columns = {**_dimensions(dialect, row), **_measures(row, sign)}
    updates = ", ".join(
        f"{name} = usage_daily_rollup.{name} + excluded.{name}" for name in _measures(row, sign)
    )
    return (
        f"INSERT INTO usage_daily_rollup ({', '.join(columns)}) "
        f"SELECT {', '.join(columns.values())} FROM jobs j WHERE j.id = {row}.job_id "
        f"ON CONFLICT ({KEY}) DO UPDATE SET {updates}"
    )


def _rollup_triggers(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"""
            CREATE FUNCTION ltb_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    {_upsert(dialect, "OLD", "-1")};
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    {_upsert(dialect, "NEW", "1")};
                END IF;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER usage_records_rollup AFTER INSERT OR UPDATE OR DELETE ON usage_records "
            "FOR EACH ROW EXECUTE FUNCTION ltb_usage_rollup()",
        ]
    return [
        f"CREATE TRIGGER usage_records_rollup_insert AFTER INSERT ON usage_records "
        f"BEGIN {_upsert(dialect, 'NEW', '1')}; END",
        f"CREATE TRIGGER usage_records_rollup_update AFTER UPDATE ON usage_records "
        f"BEGIN {_upsert(dialect, 'OLD', '-1')}; {_upsert(dialect, 'NEW', '1')}; END",
        f"CREATE TRIGGER usage_records_rollup_delete AFTER DELETE ON usage_records "
        f"BEGIN {_upsert(dialect, 'OLD', '-1')}; END",
    ]


def _rollup_backfill(dialect: str) -> str:
    dimensions = _dimensions(dialect, "u")
    measures = {name: f"sum({expression})" for name, expression in _measures("u", "1").items()}
    measures["requests"] = "count(*)"
    return (
        f"INSERT INTO usage_daily_rollup ({', '.join([*dimensions, *measures])}) "
        f"SELECT {', '.join([*dimensions.values(), *measures.values()])} "
        f"FROM usage_records u JOIN jobs j ON j.id = u.job_id "
        f"GROUP BY {', '.join(dimensions.values())}"
    )


def _views(dialect: str) -> list[str]:
    sum_kinds = ", ".join(f"coalesce(sum(u.{kind}), 0) AS {kind}_tokens" for kind in KINDS)
    total = " + ".join(f"coalesce(sum(u.{kind}), 0)" for kind in KINDS)
    return [
        f"""
        CREATE VIEW usage_daily AS
        SELECT r.day, t.name AS tenant, r.tenant_id, r.model, r.target_lang, r.source_lang,
               r.batch_id, r.labels,
               {", ".join(f"r.{kind} AS {kind}_tokens" for kind in KINDS)},
               {" + ".join(f"r.{kind}" for kind in KINDS)} AS total_tokens,
               r.requests, r.rate_limited AS rate_limited_requests,
               r.cost, r.currency, r.price_table
        FROM usage_daily_rollup r JOIN tenants t ON t.id = r.tenant_id
        """,
        f"""
        CREATE VIEW job_costs AS
        SELECT j.id AS job_id, t.name AS tenant, j.tenant_id, j.batch_id, j.status,
               j.source_uri, j.target_lang, j.source_lang, j.labels, j.created_at, j.finished_at,
               {sum_kinds}, {total} AS total_tokens,
               count(u.id) AS requests, coalesce(sum(u.cost), 0) AS cost,
               max(u.currency) AS currency, j.est_cost AS estimated_cost, j.price_table
        FROM jobs j JOIN tenants t ON t.id = j.tenant_id
        LEFT JOIN usage_records u ON u.job_id = j.id
        GROUP BY j.id, t.name
        """,
    ]
