"""The books of one streamed response: what has been sent, what it costs, how it ended.

Output is counted when a delta is handed to the server, before it reaches the socket: a
stream that breaks mid-delta is billed for that delta too (conservative, see ledger.py).
"""

from __future__ import annotations

from emulator.ledger import Ledger, LedgerEntry, Outcome
from emulator.limits import QuotaWindows
from emulator.media import MeasuredInput
from emulator.output_books import StreamedOutput
from ltb.usage import TokenCounts


class StreamSession(StreamedOutput):
    def __init__(
        self,
        *,
        request_id: str,
        api_key: str,
        quota_key: str,
        model: str,
        media: MeasuredInput,
        input_counts: TokenCounts,
        ledger: Ledger,
        quota: QuotaWindows,
        client_request_id: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.client_request_id = client_request_id
        self._api_key = api_key
        self.model = model
        self.media = media
        self.input_counts = input_counts
        self._ledger = ledger
        self._start_output(quota, quota_key)

    @property
    def counts(self) -> TokenCounts:
        """Input plus the output sent so far."""
        return self.input_counts + self.output_sent

    def close(
        self,
        outcome: Outcome,
        *,
        finish_reason: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """Writes the ledger entry; only the first call counts, so every exit path may call."""
        counts = self._close_once(outcome)
        if counts is None:
            return
        self._ledger.record(
            LedgerEntry.build(
                request_id=self.request_id,
                api_key=self._api_key,
                model=self.model,
                outcome=outcome,
                status=200,
                counts=counts,
                input_kind=self.media.kind,
                media_duration_s=self.media.duration_s,
                error_code=error_code,
                finish_reason=finish_reason,
                client_request_id=self.client_request_id,
            )
        )
