"""The migrations go up, come down and go up again, on Postgres and on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from ltb.db.migrate import downgrade, upgrade

from support.postgres import fresh_database

TABLES = {
    "tenants",
    "api_keys",
    "jobs",
    "chunks",
    "usage_records",
    "source_analyses",
    "source_objects",
}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_upgrade_downgrade_upgrade_round_trip(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
        upgrade(url)
        _round_trip(url)
        return
    with fresh_database("migrations") as plain:  # fresh_database has run upgrade head already
        _round_trip(plain.replace("postgresql://", "postgresql+psycopg://", 1))


def _round_trip(url: str) -> None:
    assert _tables(url) >= TABLES
    downgrade(url, "base")
    assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) >= TABLES
