"""Tenants' grants become folders, split into read and write grants

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

A tenant's allowed prefixes were plain strings, so s3://media/initech also matched
s3://media/initech-secret/, and they served as write grants for output_prefix too. They
become read grants, each normalised to a folder (a trailing slash); write grants start
empty, and the default output folder stays writable without one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _folders(prefixes: list[str]) -> list[str]:
    return list(dict.fromkeys(p if p.endswith("/") else p + "/" for p in prefixes))


def _grants(value: object) -> list[str]:
    # psycopg decodes JSONB; SQLite's JSON column arrives as text.
    loaded = json.loads(value) if isinstance(value, str) else value
    return [str(p) for p in (loaded or [])]


def upgrade() -> None:
    # Plain ALTER TABLE rather than a batch copy on SQLite: the reporting views name the
    # tenants table, and SQLite refuses to drop a table a view depends on.
    op.execute("ALTER TABLE tenants RENAME COLUMN allowed_prefixes TO read_prefixes")
    op.add_column(
        "tenants",
        sa.Column("write_prefixes", JSON, nullable=False, server_default=sa.text("'[]'")),
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # New rows get their value from the application, as for every other JSON column.
        op.alter_column("tenants", "write_prefixes", server_default=None)
    rows = connection.execute(sa.text("SELECT id, read_prefixes FROM tenants")).all()
    update = sa.text("UPDATE tenants SET read_prefixes = :grants WHERE id = :id").bindparams(
        sa.bindparam("grants", type_=JSON)
    )
    for tenant_id, grants in rows:
        connection.execute(update, {"grants": _folders(_grants(grants)), "id": tenant_id})


def downgrade() -> None:
    # Read grants go back to being the allowed prefixes; write grants have no place to go.
    op.execute("ALTER TABLE tenants DROP COLUMN write_prefixes")
    op.execute("ALTER TABLE tenants RENAME COLUMN read_prefixes TO allowed_prefixes")
