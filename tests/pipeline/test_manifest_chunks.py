"""pipeline.manifest.chunk_reports: the one builder of the manifest's chunk list, for the
service and `ltb translate` alike."""

from __future__ import annotations

from ltb.states import ChunkStatus
from ltb.timeline import Span
from pipeline.manifest import ChunkOutcome, chunk_reports
from pipeline.plan import ChunkCost, PlannedChunk


def _chunk(index: int, start_s: float, end_s: float) -> PlannedChunk:
    return PlannedChunk(
        index=index,
        span=Span(start_s, end_s),
        speech=(Span(start_s, end_s - 1),),
        cost=ChunkCost(audio_tokens=100, output_text_tokens=40),
        video=None,
    )


def test_chunks_are_listed_in_timeline_order_and_a_split_chunk_names_its_halves() -> None:
    outcomes = [
        ChunkOutcome(_chunk(3, 10, 15), ChunkStatus.DONE, "stop", parent_index=1),
        ChunkOutcome(_chunk(0, 0, 10), ChunkStatus.DONE, "stop"),
        ChunkOutcome(_chunk(1, 10, 20), ChunkStatus.SPLIT, "length"),
        ChunkOutcome(_chunk(2, 15, 20), ChunkStatus.DONE, "stop", parent_index=1),
    ]

    reports = chunk_reports(outcomes)

    assert [r.index for r in reports] == [0, 1, 3, 2]
    by_index = {r.index: r for r in reports}
    assert by_index[1].split_into == (2, 3)
    assert by_index[0].split_into == by_index[2].split_into == ()
    assert by_index[1].speech_s == 9
    assert by_index[1].estimated.input_audio == 100
