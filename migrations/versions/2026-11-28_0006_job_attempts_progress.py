"""Jobs count their plan and finalize attempts, record progress and heartbeats, and
when their work objects were removed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

The attempt counters bound how often a plan or finalize that dies (or keeps meeting a
transient storage failure) starts again. `progress_at` is the job's last movement and
`heartbeat_at` the last sign of life of its running plan or finalize: the reaper tells a
stuck job from a slow one by them. Existing jobs start at zero attempts, and their
progress is taken to be their last update, so no job is judged stuck by the upgrade.
`work_removed_at` is left empty on finished jobs, so the reaper removes the work objects
that earlier releases left behind, a few jobs per sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


# Plain ALTER TABLE on both dialects: SQLite's batch mode would rebuild `jobs` under the
# usage rollup's triggers, which name it.
def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("plan_attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "jobs", sa.Column("finalize_attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("jobs", sa.Column("progress_at", WHEN, nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", WHEN, nullable=True))
    op.add_column("jobs", sa.Column("work_removed_at", WHEN, nullable=True))
    op.execute("UPDATE jobs SET progress_at = updated_at")


def downgrade() -> None:
    for column in ("work_removed_at", "heartbeat_at", "progress_at", "finalize_attempts", "plan_attempts"):
        op.drop_column("jobs", column)
