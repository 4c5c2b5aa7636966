"""The API's session source, swapped for a test's rolled-back session."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy.orm import Session


def serve(db: Session) -> Callable[[], Iterator[Session]]:
    """An override of `api.deps.get_session` that hands each request the test's session.

    The test's own rows are committed first (to the test's outer transaction, which is
    still rolled back at the end), so a request that fails and rolls back its own
    transaction leaves them in place, as it would with a session of its own.
    """

    def session() -> Iterator[Session]:
        db.commit()
        yield db

    return session
