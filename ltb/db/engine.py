"""Engines and sessions. A session commits where a unit of work ends (a request, a task),
never inside the services it is handed to."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from ltb.settings import Settings, get_settings

log = logging.getLogger("ltb.db")

POSTGRES_CONNECT_TIMEOUT_S = 5
# Waiting longer for a pooled connection only queues requests behind a stalled database.
POOL_TIMEOUT_S = 10


def make_engine(url: str, *, pre_ping: bool = True, **options: Any) -> Engine:
    """An engine for `url`, tuned for Postgres or for SQLite.

    `pre_ping` tests each connection before use (a round trip): right for workers, whose
    tasks must not fail on a connection the database dropped. The API turns it off for
    latency and recycles idle connections instead; after a database restart one request
    may fail, and the pool is then renewed.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **options
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if not pre_ping:
        options.setdefault("pool_recycle", 300)
    return create_engine(
        url,
        pool_pre_ping=pre_ping,
        pool_size=10,
        max_overflow=20,
        # A database host that stops answering (rather than refusing) must not hold a
        # request or a task for the operating system's TCP timeout.
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
        pool_timeout=POOL_TIMEOUT_S,
        **options,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    # Work queued with ltb.lifecycle.after_commit: sent only once its rows are durable.
    for action in session.info.pop("after_commit", []):
        try:
            action()
        except Exception:
            log.warning("an after-commit action failed; the reaper will retry it", exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop("after_commit", None)


@lru_cache(maxsize=4)
def engine_for(url: str, pre_ping: bool = True) -> Engine:
    return make_engine(url, pre_ping=pre_ping)


def session_factory(
    settings: Settings | None = None, *, pre_ping: bool = True
) -> sessionmaker[Session]:
    """Sessions for the configured database; objects stay readable after commit."""
    settings = settings or get_settings()
    if settings.database.startswith("sqlite"):
        settings.home.mkdir(parents=True, exist_ok=True)
    return sessionmaker(engine_for(settings.database, pre_ping), expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits if the block succeeds and rolls back if it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
