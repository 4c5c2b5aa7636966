"""Editable cues, output revisions, and a purpose on each usage record

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28

A succeeded job keeps the cues its subtitles were written from (`job_cues`, one row per
cue and revision), so a line can be corrected without paying for the job again. Each
correction or redone chunk publishes a new output revision (`job_revisions`); the job
names the revision its outputs are read from (`jobs.output_revision`, 0 for what
finalize wrote). Usage records say why they were made (`purpose`: `translate`, or
`redo` for a chunk redone on request). Jobs finished before this revision have no
stored cues: GET /v1/jobs/{id}/cues lists none.

The daily usage rollup gains `purpose` as a dimension (GET /v1/usage?group_by=purpose):
it is rebuilt from usage_records, the truth it sums, with the triggers of 0003 plus the
new column; every existing record is a `translate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KINDS = ("input_audio", "input_video", "input_text", "output_text", "output_audio")
MEASURES = (*KINDS, "requests", "rate_limited", "cost", "limiter_wait_s", "request_s")
DIMENSIONS = ("tenant_id", "day", "model", "target_lang", "source_lang", "batch_id")


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("output_revision", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "usage_records",
        sa.Column("purpose", sa.String(length=16), nullable=False, server_default="translate"),
    )
    op.create_table(
        "job_revisions",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chunk_idx", sa.Integer(), nullable=True),
        sa.Column("voice", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "revision"),
    )
    op.create_table(
        "job_cues",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "revision", "idx"),
    )
    _rebuild_rollup(purpose=True)


def downgrade() -> None:
    _rebuild_rollup(purpose=False)
    op.drop_table("job_cues")
    op.drop_table("job_revisions")
    # Plain drops (SQLite 3.35+ drops columns in place): a batch copy of usage_records
    # would lose the rollup's triggers on SQLite.
    op.drop_column("usage_records", "purpose")
    op.drop_column("jobs", "output_revision")


# --- the rollup, as 0003 built it, with `purpose` as a dimension when asked ---------------


def _key(purpose: bool) -> tuple[str, ...]:
    return (*DIMENSIONS, *(("purpose",) if purpose else ()), "labels_key", "currency", "price_table")


def _rebuild_rollup(*, purpose: bool) -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW IF EXISTS usage_daily")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS jobs_rollup_delete ON jobs")
        op.execute("DROP FUNCTION IF EXISTS ltb_usage_rollup_job_deleted()")
        op.execute("DROP TRIGGER IF EXISTS usage_records_rollup ON usage_records")
        op.execute("DROP FUNCTION IF EXISTS ltb_usage_rollup()")
    else:
        op.execute("DROP TRIGGER IF EXISTS jobs_rollup_delete")
        for operation in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS usage_records_rollup_{operation}")
    op.drop_table("usage_daily_rollup")
    op.create_table(
        "usage_daily_rollup",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("target_lang", sa.String(length=8), nullable=False),
        sa.Column("source_lang", sa.String(length=8), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        *([sa.Column("purpose", sa.String(length=16), nullable=False)] if purpose else []),
        sa.Column("labels_key", sa.Text(), nullable=False),
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
        sa.PrimaryKeyConstraint(*_key(purpose)),
    )
    for statement in _triggers(dialect, purpose=purpose):
        op.execute(statement)
    op.execute(_backfill(dialect, purpose=purpose))
    op.execute(_usage_daily_view())


def _dimensions(dialect: str, row: str, job: str, *, purpose: bool) -> dict[str, str]:
    """SQL for each rollup key column, from a usage row alias and a job alias."""
    if dialect == "postgresql":
        day = f"({row}.created_at AT TIME ZONE 'UTC')::date"
        batch = f"coalesce({job}.batch_id::text, '')"
        labels_key = f"encode(sha256(convert_to({job}.labels::text, 'UTF8')), 'hex')"
    else:
        day = f"date({row}.created_at)"
        parts = "||'-'||".join(
            f"substr({job}.batch_id, {a}, {n})"
            for a, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        )
        batch = f"CASE WHEN {job}.batch_id IS NULL THEN '' ELSE lower({parts}) END"
        labels_key = f"{job}.labels"
    columns = {
        "tenant_id": f"{row}.tenant_id",
        "day": day,
        "model": f"{row}.model",
        "target_lang": f"{job}.target_lang",
        "source_lang": f"coalesce({job}.source_lang, 'auto')",
        "batch_id": batch,
    }
    if purpose:
        columns["purpose"] = f"{row}.purpose"
    columns["labels_key"] = labels_key
    columns["labels"] = f"{job}.labels"
    columns["currency"] = f"coalesce({row}.currency, '')"
    columns["price_table"] = f"coalesce({row}.price_table, '')"
    return columns


def _measures(row: str, sign: str) -> dict[str, str]:
    measures = {kind: f"{sign} * {row}.{kind}" for kind in KINDS}
    measures["requests"] = sign
    measures["rate_limited"] = (
        f"{sign} * (CASE WHEN {row}.outcome = 'provider_rate_limited' THEN 1 ELSE 0 END)"
    )
    measures["cost"] = f"{sign} * coalesce({row}.cost, 0)"
    measures["limiter_wait_s"] = f"{sign} * coalesce({row}.limiter_wait_s, 0)"
    measures["request_s"] = f"{sign} * coalesce({row}.duration_s, 0)"
    return measures


def _upsert(dialect: str, row: str, sign: str, *, purpose: bool) -> str:
    """Adds `sign` x one usage row to its rollup row."""
    columns = {**_dimensions(dialect, row, "j", purpose=purpose), **_measures(row, sign)}
    updates = ", ".join(f"{name} = usage_daily_rollup.{name} + excluded.{name}" for name in MEASURES)
    return (
        f"INSERT INTO usage_daily_rollup ({', '.join(columns)}) "
        f"SELECT {', '.join(columns.values())} FROM jobs j WHERE j.id = {row}.job_id "
        f"ON CONFLICT ({', '.join(_key(purpose))}) DO UPDATE SET {updates}"
    )


def _subtract_job(dialect: str, *, purpose: bool) -> str:
    """Takes every usage row of the job being deleted (OLD) out of the rollup."""
    dimensions = _dimensions(dialect, "u", "OLD", purpose=purpose)
    grouped = {name: f"sum({expression})" for name, expression in _measures("u", "1").items()}
    grouped["requests"] = "count(*)"
    key = list(_key(purpose))
    inner = (
        f"SELECT {', '.join(f'{sql} AS {name}' for name, sql in dimensions.items() if name in key)}, "
        f"{', '.join(f'{sql} AS {name}' for name, sql in grouped.items())} "
        f"FROM usage_records u WHERE u.job_id = OLD.id "
        f"GROUP BY {', '.join(sql for name, sql in dimensions.items() if name in key)}"
    )
    matches = " AND ".join(f"usage_daily_rollup.{name} = g.{name}" for name in key)
    sets = ", ".join(f"{name} = usage_daily_rollup.{name} - g.{name}" for name in MEASURES)
    return f"UPDATE usage_daily_rollup SET {sets} FROM ({inner}) AS g WHERE {matches}"


def _triggers(dialect: str, *, purpose: bool) -> list[str]:
    if dialect == "postgresql":
        return [
            f"""
            CREATE FUNCTION ltb_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    {_upsert(dialect, "OLD", "-1", purpose=purpose)};
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    {_upsert(dialect, "NEW", "1", purpose=purpose)};
                END IF;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER usage_records_rollup AFTER INSERT OR UPDATE OR DELETE ON usage_records "
            "FOR EACH ROW EXECUTE FUNCTION ltb_usage_rollup()",
            f"""
            CREATE FUNCTION ltb_usage_rollup_job_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {_subtract_job(dialect, purpose=purpose)};
                RETURN OLD;
            END $$
            """,
            "CREATE TRIGGER jobs_rollup_delete BEFORE DELETE ON jobs "
            "FOR EACH ROW EXECUTE FUNCTION ltb_usage_rollup_job_deleted()",
        ]
    return [
        f"CREATE TRIGGER usage_records_rollup_insert AFTER INSERT ON usage_records "
        f"BEGIN {_upsert(dialect, 'NEW', '1', purpose=purpose)}; END",
        f"CREATE TRIGGER usage_records_rollup_update AFTER UPDATE ON usage_records "
        f"BEGIN {_upsert(dialect, 'OLD', '-1', purpose=purpose)}; "
        f"{_upsert(dialect, 'NEW', '1', purpose=purpose)}; END",
        f"CREATE TRIGGER usage_records_rollup_delete AFTER DELETE ON usage_records "
        f"BEGIN {_upsert(dialect, 'OLD', '-1', purpose=purpose)}; END",
        f"CREATE TRIGGER jobs_rollup_delete BEFORE DELETE ON jobs "
        f"BEGIN {_subtract_job(dialect, purpose=purpose)}; END",
    ]


def _backfill(dialect: str, *, purpose: bool) -> str:
    dimensions = _dimensions(dialect, "u", "j", purpose=purpose)
    measures = {name: f"sum({expression})" for name, expression in _measures("u", "1").items()}
    measures["requests"] = "count(*)"
    return (
        f"INSERT INTO usage_daily_rollup ({', '.join([*dimensions, *measures])}) "
        f"SELECT {', '.join([*dimensions.values(), *measures.values()])} "
        f"FROM usage_records u JOIN jobs j ON j.id = u.job_id "
        f"GROUP BY {', '.join(dimensions.values())}"
    )


def _usage_daily_view() -> str:
    # The view keeps its columns: a dashboard that reads it sums over purposes as before.
    return f"""
        CREATE VIEW usage_daily AS
        SELECT r.day, t.name AS tenant, r.tenant_id, r.model, r.target_lang, r.source_lang,
               r.batch_id, r.labels,
               {", ".join(f"sum(r.{kind}) AS {kind}_tokens" for kind in KINDS)},
               {" + ".join(f"sum(r.{kind})" for kind in KINDS)} AS total_tokens,
               sum(r.requests) AS requests, sum(r.rate_limited) AS rate_limited_requests,
               sum(r.cost) AS cost, r.currency, r.price_table
        FROM usage_daily_rollup r JOIN tenants t ON t.id = r.tenant_id
        GROUP BY r.day, t.name, r.tenant_id, r.model, r.target_lang, r.source_lang,
                 r.batch_id, r.labels_key, r.labels, r.currency, r.price_table
        """
