"""0008 on a database in use: existing keys stay tenant keys, operator keys need no tenant,
and a downgrade takes operator keys away with the column."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, Uuid, bindparam, create_engine, text
from sqlalchemy.exc import IntegrityError

from ltb.db.migrate import downgrade, upgrade

from support.postgres import fresh_database


@contextmanager
def _database_at_0007(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url, "0007")
        yield url
        return
    with fresh_database("operator_keys", revision="0007") as plain:
        yield plain.replace("postgresql://", "postgresql+psycopg://", 1)


def _insert_key(engine: Engine, *, tenant: uuid.UUID | None, operator: bool | None) -> None:
    columns = "id, tenant_id, key_hash, display_prefix, created_at"
    values = ":id, :tenant, :hash, 'ltb_x', :now"
    if operator is not None:
        columns += ", operator"
        values += ", :operator"
    with engine.begin() as connection:
        connection.execute(
            text(f"INSERT INTO api_keys ({columns}) VALUES ({values})").bindparams(
                bindparam("id", type_=Uuid()), bindparam("tenant", type_=Uuid())
            ),
            {
                "id": uuid.uuid4(),
                "tenant": tenant,
                "hash": uuid.uuid4().hex,
                "now": datetime.now(UTC),
                "operator": operator,
            },
        )


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_0008_keeps_tenant_keys_and_lets_only_operator_keys_lack_a_tenant(
    backend: str, tmp_path: Path
) -> None:
    with _database_at_0007(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            tenant = uuid.uuid4()
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO tenants (id, name, read_prefixes,"
                        " write_prefixes, created_at, webhook_secret) VALUES (:id, 'acme',"
                        " '[]', '[]', :now, 'secret')"
                    ).bindparams(bindparam("id", type_=Uuid())),
                    {"id": tenant, "now": datetime.now(UTC)},
                )
            _insert_key(engine, tenant=tenant, operator=None)

            upgrade(url, "0008")
            with engine.connect() as connection:
                rows = connection.execute(text("SELECT operator FROM api_keys")).all()
            assert [bool(row[0]) for row in rows] == [False]
            _insert_key(engine, tenant=None, operator=True)
            with pytest.raises(IntegrityError):
                _insert_key(engine, tenant=None, operator=False)

            downgrade(url, "0007")
            with engine.connect() as connection:
                left = connection.execute(text("SELECT tenant_id FROM api_keys")).all()
            assert len(left) == 1 and left[0][0] is not None
        finally:
            engine.dispose()
