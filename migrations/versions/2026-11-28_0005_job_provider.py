"""Who answered a job's requests: DashScope or the emulator

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

Jobs answered by the built-in emulator carry placeholder translations; the job and its
manifest say so. Existing jobs keep NULL: who answered them was never recorded.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("provider", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "provider")
