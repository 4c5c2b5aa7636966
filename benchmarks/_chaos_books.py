"""The chaos suite's accounting: what the provider billed (the emulator's ledger) set
against what the service recorded (usage_records), chunk by chunk, and how long chunks
held by a killed worker took to run again. Pure functions over rows read after the run.

Every request a worker makes carries its usage record's id as X-Client-Request-Id, which
the ledger keeps as `client_request_id`: that is how a billed request is tied to its
record, and through the record to its chunk.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from benchmarks._chaos_infra import Kill
from ltb.usage import TOKEN_KINDS, TokenCounts

ChunkKey = tuple[str, int]  # (job id, chunk index)

# Ledger outcomes where the provider had started streaming and the stream ended early.
MID_STREAM = frozenset({"cut", "client_disconnected"})


@dataclass(frozen=True, slots=True)
class Record:
    """One usage_records row, times as epoch seconds."""

    id: str
    job_id: str
    chunk_idx: int
    outcome: str
    estimated: bool
    created_at: float
    completed_at: float | None
    usage: TokenCounts

    @property
    def key(self) -> ChunkKey:
        return (self.job_id, self.chunk_idx)


@dataclass(frozen=True, slots=True)
class Event:
    """A fault the suite caused, for telling why a chunk was asked for again."""

    kind: str  # worker_kill | redis_restart | postgres_outage | s3_freeze
    start: float
    end: float
    chunks: frozenset[str] = frozenset()  # for a kill: the chunk ids its worker held


@dataclass
class Books:
    billed_twice: dict[str, Any]
    redone: dict[str, Any]
    books_minus_ledger: dict[str, Any]
    unmatched: dict[str, int] = field(default_factory=dict)


def reconcile(
    records: list[Record],
    ledger: list[dict[str, Any]],
    chunk_ids: dict[ChunkKey, str],
    events: list[Event],
) -> Books:
    by_record: dict[str, dict[str, Any]] = {}
    orphans: list[dict[str, Any]] = []
    record_ids = {r.id for r in records}
    for entry in ledger:
        tag = entry.get("client_request_id")
        if tag in record_ids:
            by_record[tag] = entry
        else:
            orphans.append(entry)
    per_chunk: dict[ChunkKey, list[Record]] = defaultdict(list)
    for record in records:
        per_chunk[record.key].append(record)

    twice_chunks: set[ChunkKey] = set()
    twice_requests = 0
    twice_billed = 0
    twice_context: Counter[str] = Counter()
    redo_causes: Counter[str] = Counter()
    redo_chunks: set[ChunkKey] = set()
    for key, chunk_records in per_chunk.items():
        chunk_records.sort(key=lambda r: r.created_at)
        full = next((r for r in chunk_records if _full_and_recorded(r, by_record.get(r.id))), None)
        for previous, record in pairwise(chunk_records):
            if (
                full is not None
                and full.completed_at is not None
                and (record.created_at > full.completed_at)
            ):
                twice_chunks.add(key)
                twice_requests += 1
                twice_billed += record.id in by_record
                twice_context[
                    _context(chunk_ids.get(key), full.completed_at, record.created_at, events)
                ] += 1
                continue
            redo_chunks.add(key)
            redo_causes[
                _redo_cause(
                    previous, by_record.get(previous.id), record, chunk_ids.get(key), events
                )
            ] += 1

    return Books(
        billed_twice={
            "chunks": len(twice_chunks),
            "requests": twice_requests,
            "requests_reaching_provider": twice_billed,
            "fault_in_between": dict(twice_context),
        },
        redone={
            "chunks": len(redo_chunks),
            "requests": sum(redo_causes.values()),
            "by_cause": dict(sorted(redo_causes.items())),
        },
        books_minus_ledger=_books_minus_ledger(records, by_record, orphans),
        unmatched={
            "ledger_entries_without_record": len(orphans),
            "records_without_ledger_entry": sum(1 for r in records if r.id not in by_record),
        },
    )


def _full_and_recorded(record: Record, entry: dict[str, Any] | None) -> bool:
    """The provider sent the whole answer (finish_reason stop, with usage) and the
    service wrote what it billed into the record."""
    return (
        entry is not None
        and entry["outcome"] == "ok"
        and entry.get("finish_reason") == "stop"
        and bool(entry.get("usage"))
        and record.outcome == "ok"
        and not record.estimated
        and record.completed_at is not None
    )


def _killed_between(chunk_id: str | None, start: float, end: float, events: list[Event]) -> bool:
    return any(
        e.kind == "worker_kill" and chunk_id in e.chunks and start - 1 <= e.start <= end
        for e in events
    )


def _redo_cause(
    previous: Record,
    entry: dict[str, Any] | None,
    record: Record,
    chunk_id: str | None,
    events: list[Event],
) -> str:
    """Why a chunk was asked for again, from how the request before it ended."""
    killed = _killed_between(chunk_id, previous.created_at, record.created_at, events)
    if entry is None:
        if killed:
            return "worker_killed_before_reply"
        return f"no_reply:{previous.outcome}"
    outcome, status = entry["outcome"], entry.get("status")
    if outcome == "cut":
        return "stream_cut"
    if outcome == "client_disconnected":
        return "worker_killed_mid_stream" if killed else "client_disconnected"
    if outcome == "error":
        return f"provider_{status}:{entry.get('error_code')}"
    if outcome == "length":
        return "truncated_reply"
    # A full reply that was not recorded: the worker died between the two.
    if killed:
        return "worker_killed_before_recording"
    return f"full_reply_not_recorded:{previous.outcome}"


def _context(chunk_id: str | None, start: float, end: float, events: list[Event]) -> str:
    """Which fault, if any, fell between a recorded full reply and the repeat request."""
    if _killed_between(chunk_id, start, end, events):
        return "worker_kill"
    overlapping = [
        e for e in events if e.kind != "worker_kill" and e.start <= end and e.end >= start
    ]
    return "+".join(sorted({e.kind for e in overlapping})) or "none"


def _books_minus_ledger(
    records: list[Record],
    by_record: dict[str, dict[str, Any]],
    orphans: list[dict[str, Any]],
) -> dict[str, Any]:
    """Recorded minus billed, per token kind, and where each difference comes from."""
    parts: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        entry = by_record.get(record.id)
        billed = TokenCounts.from_provider_usage(entry["usage"]) if entry else TokenCounts()
        if entry is None:
            cause = "requests_not_reaching_provider"
        elif entry["outcome"] in MID_STREAM:
            cause = "requests_cut_mid_stream"
        elif record.outcome == "abandoned":
            cause = "records_abandoned_by_reaper"  # their worker died before completing them
        elif record.outcome == "pending":
            cause = "records_never_completed"
        else:
            cause = "other_requests"
        for kind in TOKEN_KINDS:
            parts[cause][kind] += getattr(record.usage, kind) - getattr(billed, kind)
    for entry in orphans:
        billed = TokenCounts.from_provider_usage(entry["usage"])
        for kind in TOKEN_KINDS:
            parts["billed_without_record"][kind] -= getattr(billed, kind)
    totals = {kind: sum(part[kind] for part in parts.values()) for kind in TOKEN_KINDS}
    return {
        **totals,
        "negative_kinds": [kind for kind, value in totals.items() if value < 0],
        "by_source": {
            cause: {kind: part[kind] for kind in TOKEN_KINDS if part[kind]}
            for cause, part in sorted(parts.items())
            if any(part.values())
        },
    }


def recovery(
    kills: list[Kill],
    claims: dict[str, list[tuple[int, float]]],
    finished: dict[str, float | None],
    deadline: float,
) -> dict[str, Any]:
    """From each SIGKILL to the next claim of every chunk its worker held.

    `claims` holds, per chunk id, each claim seen (its attempts count, its started_at);
    `finished` the finished_at of each chunk. A held chunk that finished before the kill
    landed needed no recovery. One never claimed again counts up to `deadline`, and makes
    the maximum a lower bound.
    """
    waits: list[float] = []
    unrecovered = 0
    for kill in kills:
        for chunk_id, attempts in kill.held.items():
            done_at = finished.get(chunk_id)
            if done_at is not None and done_at <= kill.at:
                continue
            later = [at for seen, at in claims.get(chunk_id, []) if seen > attempts]
            if later:
                waits.append(max(0.0, min(later) - kill.at))
            else:
                unrecovered += 1
                waits.append(deadline - kill.at)
    return {
        "max_recovery_s": round(max(waits), 1) if waits else None,
        "max_recovery_is_lower_bound": unrecovered > 0,
        "chunks_interrupted": len(waits),
        "chunks_never_reclaimed": unrecovered,
        "recoveries_s": sorted(round(w, 1) for w in waits),
    }


def claim_history(
    rows: Iterable[tuple[str, int, float | None]],
) -> dict[str, set[tuple[int, float]]]:
    """Groups polled (chunk id, attempts, started_at) rows into each chunk's claims."""
    history: dict[str, set[tuple[int, float]]] = defaultdict(set)
    for chunk_id, attempts, started_at in rows:
        if started_at is not None and attempts > 0:
            history[chunk_id].add((attempts, started_at))
    return history
