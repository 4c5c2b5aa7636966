"""Chunk results' dub audio in the database

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

A chunk's reply (its text on the chunk row, its dub audio here) is written in the same
transaction that marks the chunk done. No object-store upload sits between "the provider
answered" and "the chunk is done", so a storage fault can never make a chunk be claimed,
and paid for, again. Chunks finished before this revision keep their result_audio_uri.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chunk_audio",
        sa.Column("chunk_id", sa.Uuid(), nullable=False),
        sa.Column("pcm", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["chunk_id"], ["chunks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chunk_id"),
    )


def downgrade() -> None:
    op.drop_table("chunk_audio")
