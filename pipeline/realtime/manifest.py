"""The realtime run's manifest: the file engine's shape (totals are sums of the usage
records and nothing else), with segments and their sessions in place of chunks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from ltb.errors import LtbError
from ltb.pricing import PriceTable
from ltb.states import ChunkStatus, Engine
from ltb.usage import TokenCounts
from pipeline.analysis import SourceAnalysis
from pipeline.deliver.mix import MixReport
from pipeline.dub import DubReport
from pipeline.manifest import MANIFEST_VERSION
from pipeline.realtime.engine import SegmentFailed, SegmentResult, SessionAttempt
from pipeline.realtime.segments import Segment
from pipeline.usage_records import RequestUsage, totals


def realtime_manifest(
    *,
    job: dict[str, Any],
    analysis: SourceAnalysis,
    segments: Sequence[Segment],
    results: Sequence[SegmentResult],
    error: LtbError | None,
    records: Sequence[RequestUsage],
    estimate: TokenCounts,
    price_table: PriceTable,
    model: str,
    provider: str | None,
    outcome: str,
    outputs: dict[str, str],
    warnings: Sequence[str],
    subtitles: dict[str, Any] | None,
    dub: DubReport | None,
    mix: MixReport | None = None,
) -> dict[str, Any]:
    by_segment: dict[int, list[RequestUsage]] = defaultdict(list)
    for record in records:
        by_segment[record.chunk_index].append(record)
    done = {r.segment.index: r for r in results}
    failed = error if isinstance(error, SegmentFailed) else None
    billed = totals(list(records))
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "engine": Engine.REALTIME,
        "outcome": outcome,
        "provider": provider,
        "error": error.as_dict() if error else None,
        "job": job,
        "source": {**analysis.info.as_dict(), "timeline_s": round(analysis.duration_s, 3)},
        "speech_map": analysis.speech.summary(),
        "chunks": [
            _segment(s, done.get(s.index), failed, by_segment.get(s.index, [])) for s in segments
        ],
        "requests": [record.as_dict() for record in records],
        "totals": {
            "by_kind": billed.as_dict(),
            "input_tokens": billed.input_tokens,
            "output_tokens": billed.output_tokens,
            "total_tokens": billed.total,
            "requests": len(records),
            "estimated_requests": sum(1 for r in records if r.estimated),
            "sessions": sum(len(_attempts(s, done, failed)) for s in segments),
            "redone_sessions": sum(max(0, len(_attempts(s, done, failed)) - 1) for s in segments),
            # The provider bills the source transcript as output text, inside output_text.
            "transcript_in_output_text": True,
        },
        "cost": price_table.cost(model, billed).as_dict(),
        "estimate": {
            "by_kind": estimate.as_dict(),
            "total_tokens": estimate.total,
            "cost": price_table.cost(model, estimate).as_dict(),
        },
        "subtitles": subtitles,
        "dub": dub.as_dict() if dub else None,
        # The dub mix of mix_wav and the videos, as in the file engine's manifest.
        "mix": asdict(mix) if mix else None,
        "outputs": outputs,
        "warnings": list(dict.fromkeys(warnings)),
    }


def _attempts(
    segment: Segment, done: dict[int, SegmentResult], failed: SegmentFailed | None
) -> tuple[SessionAttempt, ...]:
    if segment.index in done:
        return done[segment.index].attempts
    if failed is not None and failed.segment.index == segment.index:
        return failed.attempts
    return ()


def _segment(
    segment: Segment,
    result: SegmentResult | None,
    failed: SegmentFailed | None,
    records: list[RequestUsage],
) -> dict[str, Any]:
    attempts = _attempts(segment, {segment.index: result} if result else {}, failed)
    if result is not None:
        status = ChunkStatus.DONE
    elif failed is not None and failed.segment.index == segment.index:
        status = ChunkStatus.FAILED
    else:
        status = ChunkStatus.CANCELLED
    return {
        "index": segment.index,
        "start_s": round(segment.span.start_s, 3),
        "end_s": round(segment.span.end_s, 3),
        "speech_s": round(sum(s.duration_s for s in segment.speech), 3),
        "status": status,
        "cut_through_speech": segment.cut_through_speech,
        "frames": segment.frames,
        "tokens_estimated_input": segment.input_tokens,
        "tokens_billed": totals(records).as_dict(),
        "utterances": len(result.utterances) if result else 0,
        # A session cut mid-way is redone whole: what each try cost, and how it ended.
        "sessions": [
            {
                "attempt": a.number,
                "outcome": a.outcome,
                "session_id": a.session_id,
                "responses": a.responses,
                "tokens": a.usage.as_dict(),
                "estimated": a.estimated,
                "limiter_wait_s": round(a.waited_s, 3),
                "duration_s": round(a.duration_s, 3),
            }
            for a in attempts
        ],
        "request_ids": [r.request_id for r in records if r.request_id],
        "attempts": len(attempts),
    }
