"""The finalize step's view of its chunks' dubs: readers, not bytes.

Each done chunk's dub sits in its `chunk_audio` row (or, for chunks done before the dub
moved into the database, in the job's work objects). Assembly reads one chunk's audio
when the renderer reaches its segment, so finalizing a 2-hour dub holds one chunk's PCM
at a time instead of every chunk's at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from ltb.db.models import Chunk
from ltb.storage import ObjectRef, ObjectStore
from pipeline.dub.chunk_audio import NO_AUDIO, DubAudio
from worker import repository as repo

# A chunk's dub is minutes of PCM16 at most; this only refuses an object that is clearly not one.
_MAX_CHUNK_AUDIO_BYTES = 2**31


@dataclass(frozen=True, slots=True)
class RowAudio:
    """A chunk's dub in its chunk_audio row, read in a session of its own."""

    sessions: sessionmaker[Session]
    chunk_id: uuid.UUID
    nbytes: int

    def read(self) -> bytes:
        with self.sessions() as session:
            return repo.chunk_audio(session, self.chunk_id) or b""


@dataclass(frozen=True, slots=True)
class ObjectAudio:
    """A chunk's dub stored as a work object (chunks done before chunk_audio existed)."""

    store: ObjectStore
    ref: ObjectRef
    nbytes: int

    def read(self) -> bytes:
        return self.store.get_bytes(self.ref, max_bytes=_MAX_CHUNK_AUDIO_BYTES)


def stored_dubs(
    sessions: sessionmaker[Session], store: ObjectStore, job_id: uuid.UUID, chunks: Sequence[Chunk]
) -> dict[uuid.UUID, DubAudio]:
    """A reader for each chunk's dub (NO_AUDIO for a chunk without one); reads only sizes."""
    with sessions() as session:
        sizes = repo.chunk_audio_sizes(session, job_id)
    dubs: dict[uuid.UUID, DubAudio] = {}
    for chunk in chunks:
        if sizes.get(chunk.id):
            dubs[chunk.id] = RowAudio(sessions, chunk.id, sizes[chunk.id])
        elif chunk.result_audio_uri:
            ref = ObjectRef.parse(chunk.result_audio_uri)
            dubs[chunk.id] = ObjectAudio(store, ref, store.head(ref).size)
        else:
            dubs[chunk.id] = NO_AUDIO
    return dubs
