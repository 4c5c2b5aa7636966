"""One usage record per provider request, written before the call and completed after
it, so a crash can never hide a request the provider may have billed.

Job totals are sums of these records. A record that was begun but never completed
counts at its estimate, so costs are never undercounted.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ltb.providers import Provider
from ltb.states import Engine, UsageOutcome
from ltb.usage import TOKEN_KINDS, TokenCounts


@dataclass(frozen=True, slots=True)
class RequestUsage:
    """The usage of one provider request as the pipeline books it: a value, read back
    from the JSONL log or from the service's `usage_records` rows (ltb.db.models.UsageRecord)."""

    id: str
    chunk_index: int
    attempt: int
    model: str
    request_id: str | None
    usage: TokenCounts
    # True when the provider sent no usage (a stream cut before its usage chunk, or a
    # record that was never completed) and the figure is the service's own estimate.
    estimated: bool
    outcome: str  # a UsageOutcome, or the error code of a failed attempt
    created_at: str
    engine: Engine = Engine.FILE

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chunk_index": self.chunk_index,
            "attempt": self.attempt,
            "model": self.model,
            "engine": self.engine,
            "request_id": self.request_id,
            "usage": self.usage.as_dict(),
            "estimated": self.estimated,
            "outcome": self.outcome,
            "created_at": self.created_at,
        }


class UsageRecorder(Protocol):
    def begin(self, *, chunk_index: int, attempt: int, estimate: TokenCounts) -> str:
        """Writes a pending record at its estimate before the call; returns its id."""
        ...

    def attach_request_id(self, record_id: str, request_id: str) -> None:
        """Notes the provider's request id as soon as the stream starts, so a crash
        mid-stream still leaves a record that names the request."""
        ...

    def complete(
        self,
        record_id: str,
        *,
        request_id: str | None,
        usage: TokenCounts,
        estimated: bool,
        outcome: str,
        limiter_wait_s: float = 0.0,
        duration_s: float | None = None,
        provider: Provider | None = None,
    ) -> None:
        """Replaces the estimate with what the provider reported (or the best estimate).
        `provider` says who answered, when anyone did."""
        ...


class JsonlUsageLog:
    """Usage records in an append-only JSON-lines file, synced on every write.

    Used by `ltb translate`; the service keeps the same records in Postgres.
    """

    def __init__(self, path: Path, *, model: str, engine: Engine = Engine.FILE) -> None:
        self.path = path
        self.model = model
        self.engine = engine
        self._lock = threading.Lock()

    def begin(self, *, chunk_index: int, attempt: int, estimate: TokenCounts) -> str:
        record = RequestUsage(
            id=uuid.uuid4().hex,
            chunk_index=chunk_index,
            attempt=attempt,
            model=self.model,
            request_id=None,
            usage=estimate,
            estimated=True,
            outcome=UsageOutcome.PENDING,
            created_at=datetime.now(UTC).isoformat(),
            engine=self.engine,
        )
        self._append({"event": "begin", **record.as_dict()})
        return record.id

    def attach_request_id(self, record_id: str, request_id: str) -> None:
        self._append({"event": "attach", "id": record_id, "request_id": request_id})

    def complete(
        self,
        record_id: str,
        *,
        request_id: str | None,
        usage: TokenCounts,
        estimated: bool,
        outcome: str,
        limiter_wait_s: float = 0.0,
        duration_s: float | None = None,
        provider: Provider | None = None,
    ) -> None:
        self._append(
            {
                "event": "complete",
                "id": record_id,
                "request_id": request_id,
                "usage": usage.as_dict(),
                "estimated": estimated,
                "outcome": outcome,
                "limiter_wait_s": limiter_wait_s,
                "duration_s": duration_s,
                "provider": provider,
            }
        )

    def records(self) -> list[RequestUsage]:
        """Every record in the order begun, completions folded in."""
        records: dict[str, RequestUsage] = {}
        if not self.path.exists():
            return []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            event = json.loads(line)
            if event["event"] == "begin":
                records[event["id"]] = RequestUsage(
                    id=event["id"],
                    chunk_index=event["chunk_index"],
                    attempt=event["attempt"],
                    model=event["model"],
                    request_id=event["request_id"],
                    usage=_counts(event["usage"]),
                    estimated=True,
                    outcome=UsageOutcome.PENDING,
                    created_at=event["created_at"],
                    engine=Engine(event.get("engine", Engine.FILE)),
                )
            elif event["event"] == "attach":
                records[event["id"]] = replace(records[event["id"]], request_id=event["request_id"])
            else:
                records[event["id"]] = replace(
                    records[event["id"]],
                    request_id=event["request_id"],
                    usage=_counts(event["usage"]),
                    estimated=event["estimated"],
                    outcome=event["outcome"],
                )
        return list(records.values())

    def _append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())


def _counts(raw: dict[str, int]) -> TokenCounts:
    return TokenCounts(**{kind: int(raw.get(kind, 0)) for kind in TOKEN_KINDS})


def totals(records: list[RequestUsage]) -> TokenCounts:
    """What the records add up to: the only source of a job's billed totals."""
    return TokenCounts.sum(record.usage for record in records)
