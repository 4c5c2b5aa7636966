"""Engines and sessions. A session commits where a unit of work ends (a request, a task
step), never inside the services it is handed to; work that must follow the commit
(sending a task, a webhook delivery) waits in the session's after-commit queue."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

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


# The after-commit queue lives in the session: (the transaction it belongs to, the action).
_AFTER_COMMIT = "ltb.after_commit"
Action = Callable[[], None]


def after_commit(session: Session, action: Action) -> None:
    """Runs `action` once the unit of work holding `session` has committed the current
    transaction; never if that transaction rolls back, so no task points at rows that a
    rollback erased.

    The one way to schedule work after a commit, for the API and the workers alike. It runs
    where a unit of work commits (`unit_of_work`, the API's request transaction), through
    `commit`; a bare `session.commit()` elsewhere leaves it unsent.
    """
    transaction = session.get_transaction() or session.begin()
    session.info.setdefault(_AFTER_COMMIT, []).append((transaction, action))


def commit(session: Session) -> list[Action]:
    """Commits, and returns the actions queued in the transaction it committed. Actions
    queued in a transaction that was rolled back on the way are dropped with it."""
    transaction = session.get_transaction()
    session.commit()
    queued: list[tuple[SessionTransaction, Action]] = session.info.pop(_AFTER_COMMIT, [])
    return [action for owner, action in queued if transaction is not None and owner is transaction]


def rollback(session: Session) -> None:
    """Rolls back, and forgets what was to follow the commit."""
    session.info.pop(_AFTER_COMMIT, None)
    session.rollback()


def run_quietly(action: Action) -> None:
    """Runs one after-commit action. A failure is logged, never raised: the rows are
    committed, and the reaper sends what a lost message left behind."""
    try:
        action()
    except Exception:
        log.warning("an after-commit action failed; the reaper will retry it", exc_info=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits if the block succeeds and rolls back if it raises; what was
    queued with `after_commit` runs once the commit is done."""
    with factory() as session:
        try:
            yield session
            actions = commit(session)
        except BaseException:
            rollback(session)
            raise
    for action in actions:
        run_quietly(action)
