"""fetch: a job's source on this machine's disk, downloaded at most once per machine.

Sources are cached under the scratch folder by content hash. A file lock keeps the
worker processes of one machine from downloading the same object side by side, and the
(uri, etag) → sha256 table lets a source seen before skip the download entirely.

Every download pins the ETag it was decided on (If-Match), so the bytes hashed are the
bytes of the object that was looked at; a chunk fetches only the very bytes its job was
planned from, and fails with `source_changed` when the object was replaced.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import unit_of_work
from ltb.storage import ObjectRef, ObjectStore, changed
from worker import source_repository as sources


class SourceCache:
    def __init__(
        self,
        *,
        root: Path,
        store: ObjectStore,
        sessions: sessionmaker[Session],
        max_bytes: int,
        cache_cap_bytes: int,
    ) -> None:
        self.root = root / "sources"
        self.store = store
        self.sessions = sessions
        self.max_bytes = max_bytes
        self.cache_cap_bytes = cache_cap_bytes

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256

    def known(self, *, tenant_id: uuid.UUID, uri: str) -> str | None:
        """The SHA-256 of the object now at `uri`, if it was fetched before (by its ETag)."""
        info = self.store.head(ObjectRef.parse(uri))
        return self._known_sha(tenant_id, uri, info.etag or f"size:{info.size}")

    def local(
        self, *, tenant_id: uuid.UUID, uri: str, sha256: str | None = None
    ) -> tuple[Path, str]:
        """The source as a local file and its SHA-256, fetching it only if this machine lacks it."""
        if sha256 and self.path_for(sha256).exists():
            return self._touched(self.path_for(sha256)), sha256
        ref = ObjectRef.parse(uri)
        info = self.store.head(ref)
        etag = info.etag or f"size:{info.size}"
        known = self._known_sha(tenant_id, uri, etag)
        if known and self.path_for(known).exists():
            return self._touched(self.path_for(known)), known
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / (hashlib.sha256(uri.encode()).hexdigest()[:32] + ".lock")):
            known = self._known_sha(tenant_id, uri, etag)
            if known and self.path_for(known).exists():
                return self._touched(self.path_for(known)), known
            download = self.root / f".download-{uuid.uuid4().hex}"
            try:
                sha = self.store.download(
                    ref, download, max_bytes=self.max_bytes, if_match=info.etag
                )
                download.replace(self.path_for(sha))
            finally:
                download.unlink(missing_ok=True)
            self._remember(tenant_id, uri, etag, info.size, sha)
        self._evict(keep=self.path_for(sha))
        return self.path_for(sha), sha

    def planned(self, *, tenant_id: uuid.UUID, uri: str, sha256: str | None) -> Path:
        """The source exactly as its job was planned: the cached copy, or the object fetched
        again only while it is still the one planned (`source_changed` otherwise)."""
        if sha256 is None:
            return self.local(tenant_id=tenant_id, uri=uri)[0]
        path = self.path_for(sha256)
        if path.exists():
            return self._touched(path)
        ref = ObjectRef.parse(uri)
        info = self.store.head(ref)
        etag = info.etag or f"size:{info.size}"
        seen = self._etags_of(tenant_id, uri, sha256)
        if seen and etag not in seen:
            raise changed(uri)  # another object now: not one byte of it is fetched
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / (hashlib.sha256(uri.encode()).hexdigest()[:32] + ".lock")):
            if path.exists():
                return self._touched(path)
            download = self.root / f".download-{uuid.uuid4().hex}"
            try:
                sha = self.store.download(
                    ref, download, max_bytes=self.max_bytes, if_match=info.etag
                )
                if sha != sha256:
                    raise changed(uri)  # an ETag that does not follow the content
                download.replace(path)
            finally:
                download.unlink(missing_ok=True)
        self._evict(keep=path)
        return path

    def _etags_of(self, tenant_id: uuid.UUID, uri: str, sha256: str) -> set[str]:
        """The ETags under which `uri` was seen holding the bytes hashed to `sha256`."""
        with self.sessions() as session:
            return sources.etags_of(session, tenant_id, uri, sha256)

    def _known_sha(self, tenant_id: uuid.UUID, uri: str, etag: str) -> str | None:
        with self.sessions() as session:
            return sources.sha256_of(session, tenant_id, uri, etag)

    def _remember(self, tenant_id: uuid.UUID, uri: str, etag: str, size: int, sha: str) -> None:
        with unit_of_work(self.sessions) as session:
            sources.remember(session, tenant_id, uri, etag, size_bytes=size, sha256=sha)

    @staticmethod
    def _touched(path: Path) -> Path:
        # The access time orders eviction; some mounts do not update it on read.
        os.utime(path)
        return path

    def _evict(self, *, keep: Path) -> None:
        """Deletes the least recently used sources while the cache is over its cap."""
        files = sorted(
            (
                p
                for p in self.root.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix != ".lock"
            ),
            key=lambda p: p.stat().st_mtime,
        )
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.cache_cap_bytes:
                break
            if path == keep:
                continue
            total -= path.stat().st_size
            path.unlink(missing_ok=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
