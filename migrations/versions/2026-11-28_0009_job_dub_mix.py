"""Jobs keep how their dub is mixed: dub_mix and duck_db

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28

The mix (mix_wav) and the dubbed videos (mp4, mkv) are made at finalize from the job
row, so the request's dub_mix and duck_db live there. Existing jobs asked for no mix:
they get the defaults a request gets, "replace" and -15 dB.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE on both dialects: SQLite's batch mode would rebuild `jobs` under the
# usage views and triggers that name it. The checks are Postgres's; SQLite (the embedded
# profile) keeps to what the API lets in.
def upgrade() -> None:
    op.add_column(
        "jobs", sa.Column("dub_mix", sa.String(16), nullable=False, server_default="replace")
    )
    op.add_column("jobs", sa.Column("duck_db", sa.Float(), nullable=False, server_default="-15"))
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint("ck_jobs_dub_mix", "jobs", "dub_mix IN ('replace', 'voiceover')")
        op.create_check_constraint("ck_jobs_duck_db", "jobs", "duck_db BETWEEN -40 AND 0")


def downgrade() -> None:
    # A column's checks go with it.
    op.drop_column("jobs", "duck_db")
    op.drop_column("jobs", "dub_mix")
