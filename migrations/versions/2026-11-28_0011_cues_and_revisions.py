"""Editable cues, output revisions, and a purpose on each usage record

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-28

A succeeded job keeps the cues its subtitles were written from (`job_cues`, one row per
cue and revision), so a line can be corrected without paying for the job again. Each
correction or redone chunk publishes a new output revision (`job_revisions`); the job
names the revision its outputs are read from (`jobs.output_revision`, 0 for what
finalize wrote). Usage records say why they were made (`purpose`: `translate`, or
`redo` for a chunk redone on request). Jobs finished before this revision have no
stored cues: their cue edits answer `cues_unavailable`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def downgrade() -> None:
    op.drop_table("job_cues")
    op.drop_table("job_revisions")
    # Plain drops (SQLite 3.35+ drops columns in place): a batch copy of usage_records
    # would lose the rollup's triggers on SQLite.
    op.drop_column("usage_records", "purpose")
    op.drop_column("jobs", "output_revision")
