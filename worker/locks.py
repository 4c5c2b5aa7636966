"""One source, analysed once: a lock per (tenant, source) around fetch and analysis, so
the plan tasks of a source's several target languages wait for the first one and then
reuse its analysis instead of decoding the same file side by side.

Postgres advisory locks span the fleet and vanish with a dead worker's connection; the
embedded profile (SQLite, one machine) uses a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from worker import source_repository as sources
from worker.context import WorkerContext


@contextmanager
def source_lock(ctx: WorkerContext, tenant_id: uuid.UUID, uri: str) -> Iterator[None]:
    digest = hashlib.sha256(f"{tenant_id}:{uri}".encode()).digest()
    engine = ctx.sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        key = int.from_bytes(digest[:8], "big", signed=True)
        with sources.advisory_lock(engine, key):
            yield
        return
    folder = ctx.settings.scratch_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{digest.hex()[:32]}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
