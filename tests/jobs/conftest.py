"""The job steps (plan, finalize, reaper) called directly, as a worker's task would call
them, on a real Postgres, a moto S3 server and an in-memory Celery transport that no
worker consumes: the tests see exactly which tasks a step sends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from job_support import MakeContext, purge

from ltb.db.engine import session_factory
from ltb.pricing import load_price_book
from ltb.queue import make_celery
from ltb.settings import Settings
from ltb.storage import ObjectStore, S3Store
from pipeline.provider import ProviderClient, Timeouts
from pipeline.ratelimit import LocalRateLimiter
from pipeline.translate import RetryPolicy
from worker.context import WorkerContext

from support.postgres import fresh_database
from support.s3 import moto_server, s3_store


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database("jobs") as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def moto_store(s3_endpoint: str) -> S3Store:
    return s3_store(s3_endpoint, "media", "ltb-outputs")


@pytest.fixture(autouse=True)
def empty_database(database_url: str) -> None:
    """The reaper looks at every job, so each test starts with none."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("TRUNCATE tenants CASCADE")


@pytest.fixture
def make_ctx(
    database_url: str, s3_endpoint: str, moto_store: S3Store, tmp_path: Path
) -> Iterator[MakeContext]:
    """Builds a WorkerContext; keyword arguments override settings, `store=` the store."""
    made: list[WorkerContext] = []

    def make(*, store: ObjectStore | None = None, **overrides: Any) -> WorkerContext:
        values: dict[str, Any] = {
            "profile": "production",
            "home": tmp_path / "home",
            "database_url": database_url,
            "broker_url": "memory://",
            "s3_endpoint_url": s3_endpoint,
            "output_bucket": "ltb-outputs",
            "scratch_dir": tmp_path / "scratch",
            "storage_root": tmp_path / "objects",
            **overrides,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        ctx = WorkerContext(
            settings=settings,
            sessions=session_factory(settings),
            store=store or moto_store,
            queue=make_celery(settings),
            prices=load_price_book(None),
            # Nothing here calls the provider; finalize only reads the model's name.
            client=ProviderClient(
                base_url="http://127.0.0.1:9/v1",
                api_key="unused",
                model=settings.model,
                timeouts=Timeouts(connect_s=1.0),
            ),
            limiter=LocalRateLimiter(rpm=100, tpm=100_000),
            policy=RetryPolicy(max_attempts=1),
            owner="test-worker",
        )
        purge(ctx)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        purge(ctx)
