"""The chaos suite's accounting, on rows shaped as the ledger and usage_records give them."""

from __future__ import annotations

from typing import Any

from benchmarks._chaos_books import Event, Record, reconcile, recovery
from benchmarks._chaos_infra import Kill
from ltb.usage import TokenCounts

JOB = "job-1"
CHUNK = "chunk-1"
FULL = TokenCounts(input_audio=375, output_text=120)


def record(rid: str, at: float, outcome: str, *, usage: TokenCounts = FULL) -> Record:
    completed = None if outcome == "pending" else at + 3
    return Record(
        id=rid,
        job_id=JOB,
        chunk_idx=0,
        outcome=outcome,
        estimated=outcome in ("pending", "stream_interrupted"),
        created_at=at,
        completed_at=completed,
        usage=usage,
    )


def entry(
    rid: str, outcome: str, *, status: int = 200, usage: TokenCounts = FULL
) -> dict[str, Any]:
    return {
        "client_request_id": rid,
        "outcome": outcome,
        "status": status,
        "error_code": "limit_burst_rate" if status == 429 else None,
        "finish_reason": "stop" if outcome == "ok" else None,
        "usage": usage.as_provider_usage(video_input=False),
    }


def test_a_repeat_after_a_recorded_full_reply_is_billed_twice() -> None:
    records = [record("a", 0, "ok"), record("b", 10, "ok")]
    books = reconcile(records, [entry("a", "ok"), entry("b", "ok")], {(JOB, 0): CHUNK}, [])

    assert books.billed_twice["chunks"] == 1
    assert books.billed_twice["requests_reaching_provider"] == 1
    assert books.redone["requests"] == 0


def test_repeats_after_a_429_or_a_cut_are_redone_with_their_cause() -> None:
    none = TokenCounts()
    cut = TokenCounts(input_audio=375, output_text=30)
    records = [
        record("a", 0, "limit_burst_rate", usage=none),
        record("b", 5, "stream_interrupted", usage=TokenCounts(input_audio=375, output_text=40)),
        record("c", 10, "ok"),
    ]
    ledger = [
        entry("a", "error", status=429, usage=none),
        entry("b", "cut", usage=cut),
        entry("c", "ok"),
    ]
    books = reconcile(records, ledger, {(JOB, 0): CHUNK}, [])

    assert books.billed_twice["chunks"] == 0
    assert books.redone["by_cause"] == {"provider_429:limit_burst_rate": 1, "stream_cut": 1}
    # The cut stream is counted 10 output tokens high, and nothing else differs.
    assert books.books_minus_ledger["output_text"] == 10
    assert books.books_minus_ledger["by_source"] == {"requests_cut_mid_stream": {"output_text": 10}}


def test_a_full_reply_lost_with_its_killed_worker_is_redone_not_billed_twice() -> None:
    records = [record("a", 0, "pending"), record("b", 60, "ok")]
    kill = Event("worker_kill", 2.0, 2.0, frozenset({CHUNK}))
    books = reconcile(records, [entry("a", "ok"), entry("b", "ok")], {(JOB, 0): CHUNK}, [kill])

    assert books.billed_twice["chunks"] == 0
    assert books.redone["by_cause"] == {"worker_killed_before_recording": 1}


def test_billed_requests_without_a_record_make_the_books_short() -> None:
    books = reconcile([], [entry("x", "ok")], {}, [])

    assert books.books_minus_ledger["input_audio"] == -375
    assert books.books_minus_ledger["negative_kinds"] == ["input_audio", "output_text"]


def test_recovery_runs_from_the_kill_to_the_next_claim() -> None:
    kills = [Kill(slot=0, at=100.0, pids=[1], held={"c1": 1, "c2": 1, "c3": 2})]
    claims = {"c1": [(1, 90.0), (2, 130.0), (3, 200.0)], "c3": [(2, 95.0)]}
    finished = {"c1": 210.0, "c2": 99.0, "c3": None}

    figures = recovery(kills, claims, finished, deadline=400.0)

    # c2 finished before the kill landed; c3 was never claimed again.
    assert figures["recoveries_s"] == [30.0, 300.0]
    assert figures["max_recovery_s"] == 300.0
    assert figures["max_recovery_is_lower_bound"] is True
