"""The daily usage rollup keyed on a hash of the labels; deleting a job keeps it in step

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The rollup's primary key held the labels JSON itself, so one label larger than a btree
entry (about 2.7 kB) made every usage record of its job fail to insert, for good. The
key now holds `labels_key`: on Postgres the SHA-256 of the labels' canonical JSONB text;
on SQLite, whose keys may be any length, the JSON text itself. `labels` stays a plain
column for reports.

Deleting a job cascades to its usage records only after the job row is gone, so the
usage trigger could no longer find the job's dimensions and left its usage in the
rollup. A trigger before a job is deleted now takes the job's usage out first; the
cascaded usage deletes then find no job and change nothing.

The rollup is rebuilt from usage_records, the truth it sums: rows a deleted job left
behind disappear. Chunks left pending behind a plan refused for its budget are
cancelled, so nothing can claim them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KINDS = ("input_audio", "input_video", "input_text", "output_text", "output_audio")
MEASURES = (*KINDS, "requests", "rate_limited", "cost", "limiter_wait_s", "request_s")
DIMENSIONS = ("tenant_id", "day", "model", "target_lang", "source_lang", "batch_id")
OLD_KEY = (*DIMENSIONS, "labels", "currency", "price_table")
NEW_KEY = (*DIMENSIONS, "labels_key", "currency", "price_table")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_rollup(dialect)
    _create_rollup(dialect, hashed=True)
    op.execute(
        "UPDATE chunks SET status = 'cancelled' WHERE status = 'pending' AND job_id IN "
        "(SELECT id FROM jobs WHERE status = 'failed' AND error_code = 'budget_exceeded')"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _drop_rollup(dialect)
    _create_rollup(dialect, hashed=False)


def _drop_rollup(dialect: str) -> None:
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


def _create_rollup(dialect: str, *, hashed: bool) -> None:
    key = NEW_KEY if hashed else OLD_KEY
    op.create_table(
        "usage_daily_rollup",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("target_lang", sa.String(length=8), nullable=False),
        sa.Column("source_lang", sa.String(length=8), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        *([sa.Column("labels_key", sa.Text(), nullable=False)] if hashed else []),
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
        sa.PrimaryKeyConstraint(*key),
    )
    for statement in _triggers(dialect, hashed=hashed):
        op.execute(statement)
    op.execute(_backfill(dialect, hashed=hashed))
    op.execute(_usage_daily_view())


# --- the rollup's SQL ------------------------------------------------------------------


def _dimensions(dialect: str, row: str, job: str, *, hashed: bool) -> dict[str, str]:
    """SQL for each rollup key column, from a usage row alias and a job alias."""
    if dialect == "postgresql":
        day = f"({row}.created_at AT TIME ZONE 'UTC')::date"
        batch = f"coalesce({job}.batch_id::text, '')"
        # JSONB prints its keys in one canonical order, so equal labels hash alike.
        labels_key = f"encode(sha256(convert_to({job}.labels::text, 'UTF8')), 'hex')"
    else:
        day = f"date({row}.created_at)"
        # SQLite holds UUIDs as 32 hex digits; the rollup uses the dashed form everywhere.
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
    if hashed:
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


def _upsert(dialect: str, row: str, sign: str, *, hashed: bool) -> str:
    """Adds `sign` × one usage row to its rollup row."""
    key = NEW_KEY if hashed else OLD_KEY
    columns = {**_dimensions(dialect, row, "j", hashed=hashed), **_measures(row, sign)}
    updates = ", ".join(f"{name} = usage_daily_rollup.{name} + excluded.{name}" for name in MEASURES)
    return (
        f"INSERT INTO usage_daily_rollup ({', '.join(columns)}) "
        f"SELECT {', '.join(columns.values())} FROM jobs j WHERE j.id = {row}.job_id "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def _subtract_job(dialect: str) -> str:
    """Takes every usage row of the job being deleted (OLD) out of the rollup."""
    dimensions = _dimensions(dialect, "u", "OLD", hashed=True)
    grouped = {name: f"sum({expression})" for name, expression in _measures("u", "1").items()}
    grouped["requests"] = "count(*)"
    key = list(NEW_KEY)
    inner = (
        f"SELECT {', '.join(f'{sql} AS {name}' for name, sql in dimensions.items() if name in key)}, "
        f"{', '.join(f'{sql} AS {name}' for name, sql in grouped.items())} "
        f"FROM usage_records u WHERE u.job_id = OLD.id "
        f"GROUP BY {', '.join(sql for name, sql in dimensions.items() if name in key)}"
    )
    matches = " AND ".join(f"usage_daily_rollup.{name} = g.{name}" for name in key)
    sets = ", ".join(f"{name} = usage_daily_rollup.{name} - g.{name}" for name in MEASURES)
    return f"UPDATE usage_daily_rollup SET {sets} FROM ({inner}) AS g WHERE {matches}"


def _triggers(dialect: str, *, hashed: bool) -> list[str]:
    if dialect == "postgresql":
        statements = [
            f"""
            CREATE FUNCTION ltb_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('UPDATE', 'DELETE') THEN
                    {_upsert(dialect, "OLD", "-1", hashed=hashed)};
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    {_upsert(dialect, "NEW", "1", hashed=hashed)};
                END IF;
                RETURN NULL;
            END $$
            """,
            "CREATE TRIGGER usage_records_rollup AFTER INSERT OR UPDATE OR DELETE ON usage_records "
            "FOR EACH ROW EXECUTE FUNCTION ltb_usage_rollup()",
        ]
        if hashed:
            statements += [
                f"""
                CREATE FUNCTION ltb_usage_rollup_job_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    {_subtract_job(dialect)};
                    RETURN OLD;
                END $$
                """,
                "CREATE TRIGGER jobs_rollup_delete BEFORE DELETE ON jobs "
                "FOR EACH ROW EXECUTE FUNCTION ltb_usage_rollup_job_deleted()",
            ]
        return statements
    statements = [
        f"CREATE TRIGGER usage_records_rollup_insert AFTER INSERT ON usage_records "
        f"BEGIN {_upsert(dialect, 'NEW', '1', hashed=hashed)}; END",
        f"CREATE TRIGGER usage_records_rollup_update AFTER UPDATE ON usage_records "
        f"BEGIN {_upsert(dialect, 'OLD', '-1', hashed=hashed)}; "
        f"{_upsert(dialect, 'NEW', '1', hashed=hashed)}; END",
        f"CREATE TRIGGER usage_records_rollup_delete AFTER DELETE ON usage_records "
        f"BEGIN {_upsert(dialect, 'OLD', '-1', hashed=hashed)}; END",
    ]
    if hashed:
        statements.append(
            f"CREATE TRIGGER jobs_rollup_delete BEFORE DELETE ON jobs "
            f"BEGIN {_subtract_job(dialect)}; END"
        )
    return statements


def _backfill(dialect: str, *, hashed: bool) -> str:
    dimensions = _dimensions(dialect, "u", "j", hashed=hashed)
    measures = {name: f"sum({expression})" for name, expression in _measures("u", "1").items()}
    measures["requests"] = "count(*)"
    return (
        f"INSERT INTO usage_daily_rollup ({', '.join([*dimensions, *measures])}) "
        f"SELECT {', '.join([*dimensions.values(), *measures.values()])} "
        f"FROM usage_records u JOIN jobs j ON j.id = u.job_id "
        f"GROUP BY {', '.join(dimensions.values())}"
    )


def _usage_daily_view() -> str:
    return f"""
        CREATE VIEW usage_daily AS
        SELECT r.day, t.name AS tenant, r.tenant_id, r.model, r.target_lang, r.source_lang,
               r.batch_id, r.labels,
               {", ".join(f"r.{kind} AS {kind}_tokens" for kind in KINDS)},
               {" + ".join(f"r.{kind}" for kind in KINDS)} AS total_tokens,
               r.requests, r.rate_limited AS rate_limited_requests,
               r.cost, r.currency, r.price_table
        FROM usage_daily_rollup r JOIN tenants t ON t.id = r.tenant_id
        """
