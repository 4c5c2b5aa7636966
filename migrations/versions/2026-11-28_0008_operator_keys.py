"""Operator keys: an API key that belongs to no tenant and reads across tenants

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

An operator key signs in to the console's read-only fleet view. It has no tenant, so
the tenant API (which joins a key to its tenant) never accepts it. Existing keys are
tenant keys: operator is false and tenant_id stays set, which the check keeps true.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as keys:
        keys.add_column(
            sa.Column("operator", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        keys.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=True)
        keys.create_check_constraint(
            "ck_api_keys_operator_or_tenant", "operator OR tenant_id IS NOT NULL"
        )


def downgrade() -> None:
    # Operator keys cannot exist without the column; they go with it.
    op.execute(sa.text("DELETE FROM api_keys WHERE tenant_id IS NULL"))
    with op.batch_alter_table("api_keys") as keys:
        keys.drop_constraint("ck_api_keys_operator_or_tenant", type_="check")
        keys.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=False)
        keys.drop_column("operator")
