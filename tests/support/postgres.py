"""A throwaway Postgres database per test session, built by the real migrations."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from ltb.db.migrate import upgrade

ADMIN_URL = os.environ.get("LTB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def fresh_database(label: str, revision: str = "head") -> Iterator[str]:
    """Creates `ltb_test_<label>_<random>`, migrates it to `revision`, yields its URL, drops it."""
    name = f"ltb_test_{label}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(ADMIN_URL, name)
    try:
        upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1), revision)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
