"""manifest.json: the job's parameters, the source, the chunk list and the books.

Totals are sums of the per-request usage records and nothing else, so the manifest's
figures always reconcile with the provider's request ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from ltb.pricing import PriceTable
from ltb.states import ChunkStatus
from ltb.timeline import Span
from ltb.usage import TokenCounts
from pipeline.analysis import SourceAnalysis
from pipeline.deliver.mix import MixReport
from pipeline.dub import DubReport
from pipeline.plan import PlannedChunk
from pipeline.usage_records import RequestUsage, totals

MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class ChunkReport:
    index: int
    span: Span
    speech_s: float
    estimated: TokenCounts
    status: ChunkStatus
    finish_reason: str | None = None
    split_into: tuple[int, ...] = ()
    cut_through_speech: bool = False


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    """What became of one chunk: the service reads it from the chunk rows, `ltb translate`
    from its run. `parent_index` names the chunk a half was split from."""

    chunk: PlannedChunk
    status: ChunkStatus
    finish_reason: str | None = None
    parent_index: int | None = None


def chunk_reports(outcomes: Iterable[ChunkOutcome]) -> list[ChunkReport]:
    """The manifest's chunk list, in timeline order, for the service and `ltb translate`
    alike. A split chunk names its halves (`split_into`), found from their parent links."""
    listed = sorted(outcomes, key=lambda o: (o.chunk.span.start_s, o.chunk.index))
    halves: dict[int, list[int]] = defaultdict(list)
    for outcome in listed:
        if outcome.parent_index is not None:
            halves[outcome.parent_index].append(outcome.chunk.index)
    return [
        ChunkReport(
            index=o.chunk.index,
            span=o.chunk.span,
            speech_s=o.chunk.speech_s,
            estimated=o.chunk.cost.as_counts(),
            status=o.status,
            finish_reason=o.finish_reason,
            split_into=tuple(sorted(halves.get(o.chunk.index, ()))),
            cut_through_speech=o.chunk.cut_through_speech,
        )
        for o in listed
    ]


def build_manifest(
    *,
    job: dict[str, Any],
    analysis: SourceAnalysis,
    chunks: Sequence[ChunkReport],
    records: Sequence[RequestUsage],
    estimate: TokenCounts,
    price_table: PriceTable,
    model: str,
    provider: str | None,
    outcome: str,
    outputs: dict[str, str],
    warnings: Sequence[str] = (),
    subtitles: dict[str, Any] | None = None,
    dub: DubReport | None = None,
    error: dict[str, str] | None = None,
    mix: MixReport | None = None,
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict. `provider` is who answered the requests
    ("dashscope" or "emulator"), None when none was answered."""
    by_chunk: dict[int, list[RequestUsage]] = defaultdict(list)
    for record in records:
        by_chunk[record.chunk_index].append(record)
    placements = {p.index: p for p in dub.placements} if dub else {}
    billed = totals(list(records))
    return {
        "manifest_version": MANIFEST_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "outcome": outcome,
        "provider": provider,
        "error": error,
        "job": job,
        "source": {**analysis.info.as_dict(), "timeline_s": round(analysis.duration_s, 3)},
        "speech_map": analysis.speech.summary(),
        "chunks": [_chunk(c, by_chunk.get(c.index, []), placements.get(c.index)) for c in chunks],
        "requests": [record.as_dict() for record in records],
        "totals": {
            "by_kind": billed.as_dict(),
            "input_tokens": billed.input_tokens,
            "output_tokens": billed.output_tokens,
            "total_tokens": billed.total,
            "requests": len(records),
            "estimated_requests": sum(1 for r in records if r.estimated),
        },
        "cost": price_table.cost(model, billed).as_dict(),
        "estimate": {
            "by_kind": estimate.as_dict(),
            "total_tokens": estimate.total,
            "cost": price_table.cost(model, estimate).as_dict(),
        },
        "subtitles": subtitles,
        "dub": _dub_summary(dub),
        # The dub mix of mix_wav and the videos: its mode, duck, gain and measured level.
        "mix": asdict(mix) if mix else None,
        "outputs": outputs,
        "warnings": list(dict.fromkeys(warnings)),
    }


def _chunk(chunk: ChunkReport, records: list[RequestUsage], placement: Any) -> dict[str, Any]:
    return {
        "index": chunk.index,
        "start_s": round(chunk.span.start_s, 3),
        "end_s": round(chunk.span.end_s, 3),
        "speech_s": round(chunk.speech_s, 3),
        "status": chunk.status,
        "finish_reason": chunk.finish_reason,
        "split_into": list(chunk.split_into),
        "cut_through_speech": chunk.cut_through_speech,
        "tokens_estimated": chunk.estimated.as_dict(),
        "tokens_billed": totals(records).as_dict(),
        "request_ids": [r.request_id for r in records if r.request_id],
        "attempts": len(records),
        "dub": (
            {
                "start_s": round(placement.start_s, 3),
                "end_s": round(placement.end_s, 3),
                "speed": round(placement.speed, 4),
                "delay_s": round(placement.delay_s, 3),
            }
            if placement is not None
            else None
        ),
    }


def _dub_summary(dub: DubReport | None) -> dict[str, Any] | None:
    if dub is None:
        return None
    summary = dub.as_dict()
    summary.pop("placements", None)  # each chunk carries its own placement
    speeds = [p.speed for p in dub.placements]
    summary["max_speed_used"] = max(speeds, default=1.0)
    summary["segments"] = len(dub.placements)
    summary["delayed_segments"] = sum(1 for p in dub.placements if p.delay_s > 1e-6)
    return summary
