"""The realtime engine: jobs name their engine, usage records their engine and image tokens

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28

- `jobs.engine`: "file" (whole chunks, qwen3-livetranslate-flash) or "realtime" (WebSocket
  sessions, qwen3-livetranslate-flash-realtime). Existing jobs are file jobs.
- `usage_records.engine` and `usage_records.input_image`: the realtime engine's still
  frames are billed as image tokens, a sixth token kind.
- The daily rollup gains `input_image`: it is rebuilt from usage_records by migration
  0011's own code (so it keeps `purpose` as a dimension, its triggers and the usage_daily
  view), summing six kinds; job_costs sums the new kind too. The downgrade rebuilds both
  as 0011 (and 0013, which touches neither) left them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILE_KINDS = ("input_audio", "input_video", "input_text", "output_text", "output_audio")
KINDS = (*FILE_KINDS, "input_image")


# Plain ALTER TABLE on both dialects (as 0011 and 0013): SQLite's batch mode would copy
# tables that the views and the rollup's triggers name.
def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("engine", sa.String(length=16), nullable=False, server_default="file")
    )
    op.add_column(
        "usage_records",
        sa.Column("engine", sa.String(length=16), nullable=False, server_default="file"),
    )
    op.add_column(
        "usage_records",
        sa.Column("input_image", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("DROP VIEW IF EXISTS job_costs")
    _rollup_code(KINDS)._rebuild_rollup(purpose=True)
    op.execute(_job_costs(KINDS))


def downgrade() -> None:
    # Views and triggers that name the new columns go first, then the columns.
    op.execute("DROP VIEW IF EXISTS job_costs")
    _rollup_code(FILE_KINDS)._rebuild_rollup(purpose=True)
    op.drop_column("usage_records", "input_image")
    op.drop_column("usage_records", "engine")
    op.execute(_job_costs(FILE_KINDS))
    op.drop_column("jobs", "engine")


def _rollup_code(kinds: tuple[str, ...]) -> ModuleType:
    """Migration 0011's rollup builder, summing `kinds` (it reads them from its module)."""
    path = next(Path(__file__).parent.glob("*_0011_cues_and_revisions.py"))
    spec = importlib.util.spec_from_file_location("ltb_migration_0011_rollup", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.KINDS = kinds
    module.MEASURES = (*kinds, "requests", "rate_limited", "cost", "limiter_wait_s", "request_s")
    return module


def _job_costs(kinds: tuple[str, ...]) -> str:
    """Migration 0002's job_costs, summing `kinds`."""
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
