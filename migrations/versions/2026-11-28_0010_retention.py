"""Retention and deletion: how long a finished job's outputs are kept, and when they went

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28

Every new column is nullable and empty: existing tenants keep their outputs forever
(retention_days NULL) until an operator sets a period, and no existing job is marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)
# The retention sweep reads finished jobs whose outputs still exist.
_UNEXPIRED = "outputs_expired_at IS NULL AND finished_at IS NOT NULL"


# Plain ALTER TABLE on both dialects: SQLite's batch mode would rebuild `jobs` under the
# views and the usage rollup's triggers, which name it.
def upgrade() -> None:
    op.add_column("tenants", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.add_column("jobs", sa.Column("retention_days", sa.Integer(), nullable=True))
    for column in ("deleted_at", "purge_started_at", "outputs_expired_at"):
        op.add_column("jobs", sa.Column(column, WHEN, nullable=True))
    op.create_index(
        "ix_jobs_unexpired_finished",
        "jobs",
        ["finished_at"],
        postgresql_where=sa.text(_UNEXPIRED),
        sqlite_where=sa.text(_UNEXPIRED),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_unexpired_finished", table_name="jobs")
    for column in ("outputs_expired_at", "purge_started_at", "deleted_at", "retention_days"):
        op.drop_column("jobs", column)
    op.drop_column("tenants", "retention_days")
