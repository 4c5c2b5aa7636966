"""The API in-process on a real Postgres: every test runs inside a transaction that is
rolled back at the end, so tests never share rows (docs/architecture.md, "How the code reads")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from ltb.settings import Settings

from support.api_session import serve
from support.factories import bind_factories
from support.postgres import fresh_database


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database("api") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that the test never sees committed."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    bind_factories(session)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    (tmp_path / "objects" / "ltb-outputs").mkdir(parents=True)  # /readyz checks it
    return Settings(
        profile="embedded",
        home=tmp_path / "home",
        database_url=database_url,
        # Messages go nowhere real: these tests check the API; end-to-end tests run workers.
        broker_url="memory://",
        storage_root=tmp_path / "objects",
        output_bucket="ltb-outputs",
    )


@pytest.fixture
def client(settings: Settings, db: Session) -> Iterator[TestClient]:
    app = create_app(settings)
    app.dependency_overrides[get_session] = serve(db)
    with TestClient(app) as test_client:
        yield test_client
