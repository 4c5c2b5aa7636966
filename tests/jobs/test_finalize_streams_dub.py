"""finalize reads the chunks' dubs from chunk_audio one row at a time, as the renderer
reaches each segment, rather than loading every chunk's audio before assembling."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from job_support import MakeContext, translated_job

from ltb.storage import ObjectRef
from worker import repository
from worker.finalize_step import finalize_job

from support.held_audio import HeldAudio
from support.library import MediaLibrary


def test_finalize_holds_one_chunks_dub_at_a_time(
    make_ctx: MakeContext, media: MediaLibrary, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Short chunks, so the 20-second file makes several.
    ctx = make_ctx(target_chunk_s=5)
    job = translated_job(ctx, media.speech_mp3, outputs=["text", "wav"], voice="Cherry")
    with psycopg.connect(ctx.settings.database_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO chunk_audio (chunk_id, pcm, created_at) "
            "SELECT id, %s, now() FROM chunks WHERE job_id = %s AND status = 'done'",
            (b"\x10\x00" * 24_000, job.id),
        )
        (voiced,) = connection.execute(
            "SELECT count(*) FROM chunks WHERE job_id = %s AND status = 'done'", (job.id,)
        ).fetchone() or (0,)
    assert voiced >= 2
    held = HeldAudio()
    read_row = repository.chunk_audio

    def counted(session: Any, chunk_id: Any) -> bytes | None:
        pcm = read_row(session, chunk_id)
        return held.hand_out(pcm) if pcm is not None else None

    monkeypatch.setattr(repository, "chunk_audio", counted)

    finalize_job(ctx, job.id)

    manifest = json.loads(
        ctx.store.get_bytes(ObjectRef.parse(job.output_prefix + "manifest.json"), max_bytes=10**7)
    )
    assert manifest["outcome"] == "ok"
    assert manifest["dub"]["segments"] == voiced
    assert held.reads == voiced
    assert held.most_alive == 1
