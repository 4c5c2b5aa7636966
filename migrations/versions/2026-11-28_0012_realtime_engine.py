"""The realtime engine: jobs name their engine, usage records their engine and image tokens

Revision ID: 0012
Revises: 0008
Create Date: 2026-11-28

- `jobs.engine`: "file" (whole chunks, qwen3-livetranslate-flash) or "realtime" (WebSocket
  sessions, qwen3-livetranslate-flash-realtime). Existing jobs are file jobs.
- `usage_records.engine` and `usage_records.input_image`: the realtime engine's still
  frames are billed as image tokens, a sixth token kind.
- The daily rollup gains `input_image`: it is rebuilt from usage_records (its triggers
  and the usage_daily view with it, by migration 0003's own code) and job_costs sums the
  new kind.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILE_KINDS = ("input_audio", "input_video", "input_text", "output_text", "output_audio")
KINDS = (*FILE_KINDS, "input_image")


def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("engine", sa.String(length=16), nullable=False, server_default="file")
    )
    with op.batch_alter_table("usage_records") as usage:
        usage.add_column(
            sa.Column("engine", sa.String(length=16), nullable=False, server_default="file")
        )
        usage.add_column(sa.Column("input_image", sa.Integer(), nullable=False, server_default="0"))
    _rebuild(KINDS)


def downgrade() -> None:
    _rebuild(FILE_KINDS, before=lambda: _drop_usage_columns())
    op.drop_column("jobs", "engine")


def _drop_usage_columns() -> None:
    with op.batch_alter_table("usage_records") as usage:
        usage.drop_column("input_image")
        usage.drop_column("engine")


def _rebuild(kinds: tuple[str, ...], before: object = None) -> None:
    """The rollup, its triggers and both views, summing `kinds`."""
    dialect = op.get_bind().dialect.name
    rollup = _rollup_code(kinds)
    op.execute("DROP VIEW IF EXISTS job_costs")
    rollup._drop_rollup(dialect)
    if callable(before):
        before()
    rollup._create_rollup(dialect, hashed=True)
    op.execute(_job_costs(kinds))


def _rollup_code(kinds: tuple[str, ...]) -> ModuleType:
    """Migration 0003's rollup builder, summing `kinds` (it reads them from its module)."""
    path = next(Path(__file__).parent.glob("*_0003_rollup_labels_key.py"))
    spec = importlib.util.spec_from_file_location("ltb_migration_0003_rollup", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.KINDS = kinds
    module.MEASURES = (*kinds, "requests", "rate_limited", "cost", "limiter_wait_s", "request_s")
    return module


def _job_costs(kinds: tuple[str, ...]) -> str:
    sums = ", ".join(f"coalesce(sum(u.{kind}), 0) AS {kind}_tokens" for kind in kinds)
    total = " + ".join(f"coalesce(sum(u.{kind}), 0)" for kind in kinds)
    return f"""
        CREATE VIEW job_costs AS
        SELECT j.id AS job_id, t.name AS tenant, j.tenant_id, j.batch_id, j.status,
               j.source_uri, j.target_lang, j.source_lang, j.labels, j.created_at, j.finished_at,
               {sums}, {total} AS total_tokens,
               count(u.id) AS requests, coalesce(sum(u.cost), 0) AS cost,
               max(u.currency) AS currency, j.est_cost AS estimated_cost, j.price_table
        FROM jobs j JOIN tenants t ON t.id = j.tenant_id
        LEFT JOIN usage_records u ON u.job_id = j.id
        GROUP BY j.id, t.name
        """
