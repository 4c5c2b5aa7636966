"""The ledger: one entry per request the emulator answered, and one per realtime response
(`kind: "realtime"`), with what it billed.

Tests compare the usage the service recorded with what the "provider" charged, so every
request is here, refusals included (billed nothing).

Outcomes:
- `ok`: the stream ended with finish_reason "stop", the usage chunk and [DONE];
- `length`: the same, but the output hit its token limit (finish_reason "length");
- `error`: refused with an error body before streaming, or a moderation error mid-stream;
- `cut`: the emulator broke the stream on purpose (a `cut` fault);
- `client_disconnected`: the client went away before the stream ended.

A cut or abandoned stream is billed for its input plus the output already sent. The real
provider's behaviour there is unknown; charging for what was sent keeps the cost reports
built on this ledger conservative.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ltb.usage import TokenCounts

Outcome = Literal["ok", "length", "error", "cut", "client_disconnected"]
# Which API the entry belongs to: a chat-completions request ("file") or one response of a
# realtime WebSocket session ("realtime").
ApiKind = Literal["file", "realtime"]


def key_id(api_key: str) -> str:
    """A stable, non-secret name for a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def key_tag(api_key: str) -> str:
    """How a key appears in the ledger: its last 4 characters, only if it is long enough
    that they give nothing away."""
    return f"…{api_key[-4:]}" if len(api_key) >= 16 else "…"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    request_id: str
    key: str
    key_sha256: str
    model: str | None
    outcome: Outcome
    status: int
    error_code: str | None
    input_kind: str | None
    media_duration_s: float | None
    finish_reason: str | None
    usage: dict[str, Any]
    created_at: float
    # The client's own id for the request (X-Client-Request-Id), if it sent one, so a
    # client that died before reading the response can still match its records.
    client_request_id: str | None = None
    kind: ApiKind = "file"
    # Realtime only: the session, the utterance the response answered (where the detector
    # heard it, on the session's audio timeline), its billing window and the usage exactly
    # as response.done carried it. Tests read timing truth here; events never carry it.
    realtime: dict[str, Any] | None = None

    @classmethod
    def build(
        cls,
        *,
        request_id: str,
        api_key: str | None,
        model: str | None,
        outcome: Outcome,
        status: int,
        counts: TokenCounts,
        input_kind: str | None,
        media_duration_s: float | None = None,
        error_code: str | None = None,
        finish_reason: str | None = None,
        client_request_id: str | None = None,
        kind: ApiKind = "file",
        realtime: dict[str, Any] | None = None,
    ) -> LedgerEntry:
        return cls(
            request_id=request_id,
            key=key_tag(api_key) if api_key else "",
            key_sha256=key_id(api_key) if api_key else "",
            model=model,
            outcome=outcome,
            status=status,
            error_code=error_code,
            input_kind=input_kind,
            media_duration_s=None if media_duration_s is None else round(media_duration_s, 6),
            finish_reason=finish_reason,
            # Realtime images are booked as video tokens, the nearest kind the books have.
            usage=counts.as_provider_usage(
                video_input=input_kind == "video" or counts.input_video > 0
            ),
            created_at=time.time(),
            client_request_id=client_request_id,
            kind=kind,
            realtime=realtime,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """Thread-safe: entries are written from the event loop and read by any request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LedgerEntry] = []

    def record(self, entry: LedgerEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LedgerEntry]:
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    def summary(self) -> dict[str, Any]:
        """All entries and the billed totals by token kind, as the ledger endpoint shows them."""
        entries = self.entries()
        totals = TokenCounts.sum(TokenCounts.from_provider_usage(e.usage) for e in entries)
        return {
            "entries": [entry.as_dict() for entry in entries],
            "totals": {**totals.as_dict(), "total": totals.total},
        }
