"""The books of one streamed response: what has been sent, what it costs, how it ended.

Output is counted when a delta is handed to the server, before it reaches the socket: a
stream that breaks mid-delta is billed for that delta too (conservative, see ledger.py).
"""

from __future__ import annotations

import threading

from emulator.billing import output_counts
from emulator.ledger import Ledger, LedgerEntry, Outcome
from emulator.limits import QuotaWindows
from emulator.media import MeasuredInput
from ltb.usage import TokenCounts


class StreamSession:
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
        self._quota_key = quota_key
        self.model = model
        self.media = media
        self.input_counts = input_counts
        self._ledger = ledger
        self._quota = quota
        self._lock = threading.Lock()
        self._text: list[str] = []
        self._samples = 0
        self._output_reported = 0
        self.outcome: Outcome | None = None

    @property
    def counts(self) -> TokenCounts:
        """Input plus the output sent so far."""
        return self.input_counts + output_counts("".join(self._text), self._samples)

    def sent_text(self, piece: str) -> None:
        with self._lock:
            self._text.append(piece)
            self._report_output()

    def sent_audio(self, samples: int) -> None:
        with self._lock:
            self._samples += samples
            self._report_output()

    def _report_output(self) -> None:
        # Output joins the token window as it is produced, as the provider's metering does.
        produced = self.counts.output_tokens
        self._quota.add_tokens(self._quota_key, produced - self._output_reported)
        self._output_reported = produced

    def close(
        self,
        outcome: Outcome,
        *,
        finish_reason: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """Writes the ledger entry; only the first call counts, so every exit path may call."""
        with self._lock:
            if self.outcome is not None:
                return
            self.outcome = outcome
            counts = self.counts
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
