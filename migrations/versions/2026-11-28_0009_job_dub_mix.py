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


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(
            sa.Column("dub_mix", sa.String(16), nullable=False, server_default="replace")
        )
        jobs.add_column(sa.Column("duck_db", sa.Float(), nullable=False, server_default="-15"))
        jobs.create_check_constraint("ck_jobs_dub_mix", "dub_mix IN ('replace', 'voiceover')")
        jobs.create_check_constraint("ck_jobs_duck_db", "duck_db BETWEEN -40 AND 0")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint("ck_jobs_duck_db", type_="check")
        jobs.drop_constraint("ck_jobs_dub_mix", type_="check")
        jobs.drop_column("duck_db")
        jobs.drop_column("dub_mix")
