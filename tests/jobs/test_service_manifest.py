"""The manifest a service finalize publishes: its chunk list reads the same as the one
`ltb translate` writes, split chunks naming their halves included."""

from __future__ import annotations

import json
from typing import Any

from job_support import MakeContext, translated_job
from sqlalchemy import select

from ltb.db.engine import unit_of_work
from ltb.db.models import Chunk
from ltb.states import ChunkStatus
from ltb.storage import ObjectRef
from worker.finalize_step import finalize_job

from support.library import MediaLibrary


def _manifest(ctx: Any, output_prefix: str) -> dict[str, Any]:
    raw = ctx.store.get_bytes(ObjectRef.parse(output_prefix + "manifest.json"), max_bytes=10**7)
    document: dict[str, Any] = json.loads(raw)
    return document


def test_a_split_chunk_names_its_halves_in_the_service_manifest(
    make_ctx: MakeContext, media: MediaLibrary
) -> None:
    ctx = make_ctx()
    job = translated_job(ctx, media.speech_mp3)
    # What the chunk step leaves after a truncated answer: the chunk marked split and
    # two done halves whose parent_idx names it.
    with unit_of_work(ctx.sessions) as session:
        first = session.scalars(
            select(Chunk).where(Chunk.job_id == job.id, Chunk.status == ChunkStatus.DONE)
        ).first()
        assert first is not None
        last_idx = max(session.scalars(select(Chunk.idx).where(Chunk.job_id == job.id)))
        first.status = ChunkStatus.SPLIT
        first.finish_reason = "length"
        middle_s = (first.start_s + first.end_s) / 2
        halves = [
            Chunk(
                tenant_id=first.tenant_id,
                job_id=job.id,
                idx=last_idx + 1 + n,
                parent_idx=first.idx,
                start_s=start_s,
                end_s=end_s,
                speech=[[start_s, end_s]],
                status=ChunkStatus.DONE,
                finish_reason="stop",
                result_text="Half.",
            )
            for n, (start_s, end_s) in enumerate(
                [(first.start_s, middle_s), (middle_s, first.end_s)]
            )
        ]
        session.add_all(halves)
        split_idx, half_idx = first.idx, [last_idx + 1, last_idx + 2]

    finalize_job(ctx, job.id)

    chunks = {c["index"]: c for c in _manifest(ctx, job.output_prefix)["chunks"]}
    assert chunks[split_idx]["status"] == "split"
    assert chunks[split_idx]["split_into"] == half_idx
    assert all(chunks[i]["split_into"] == [] for i in half_idx)
