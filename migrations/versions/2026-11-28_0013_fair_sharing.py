"""Fair sharing between tenants: tenant weights, caps and budgets, job priority, and
the admission mark of the chunk dispatcher

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-28

Chunks stay `pending` in Postgres until the dispatcher admits them to the task queue
(`admitted_at`); existing pending and running chunks were all sent already, so
they are marked admitted. Existing tenants get weight 1 and no cap or budget; existing jobs and batches
are `normal` priority.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


WHEN = sa.DateTime(timezone=True)
PRIORITY = sa.String(8)


# Plain ALTER TABLE on both dialects: SQLite's batch mode would rebuild tables that the
# reporting views and the usage rollup's triggers name.
def upgrade() -> None:
    op.add_column("tenants", sa.Column("weight", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("tenants", sa.Column("max_concurrent_chunks", sa.Integer(), nullable=True))
    op.add_column("tenants", sa.Column("monthly_token_budget", sa.BigInteger(), nullable=True))
    op.add_column(
        "jobs", sa.Column("priority", PRIORITY, nullable=False, server_default="normal")
    )
    op.add_column(
        "batches", sa.Column("priority", PRIORITY, nullable=False, server_default="normal")
    )
    op.add_column("chunks", sa.Column("admitted_at", WHEN, nullable=True))
    op.execute("UPDATE chunks SET admitted_at = updated_at WHERE status IN ('pending', 'running')")
    # The dispatcher counts each tenant's chunks in flight and reads those waiting.
    op.create_index(
        "ix_chunks_dispatch",
        "chunks",
        ["tenant_id", "admitted_at"],
        postgresql_where=sa.text("status IN ('pending', 'running')"),
        sqlite_where=sa.text("status IN ('pending', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_chunks_dispatch", table_name="chunks")
    op.drop_column("chunks", "admitted_at")
    op.drop_column("batches", "priority")
    op.drop_column("jobs", "priority")
    for column in ("monthly_token_budget", "max_concurrent_chunks", "weight"):
        op.drop_column("tenants", column)
