"""Output counted as it is produced, for a streamed answer of either engine.

A delta is counted when it is handed to the server, before it reaches the socket, and its
tokens join the quota window at once, as the provider's metering does. The first exit
(done, cut, refused, disconnected) closes the books; later exits find them closed.
"""

from __future__ import annotations

import threading

from emulator.billing import output_counts
from emulator.ledger import Outcome
from emulator.limits import QuotaWindows
from ltb.usage import TokenCounts


class StreamedOutput:
    """The output half of one answer's books; `counts` says what the whole answer costs."""

    outcome: Outcome | None

    def _start_output(self, quota: QuotaWindows, quota_key: str) -> None:
        self._output_quota, self._output_quota_key = quota, quota_key
        self._lock = threading.Lock()
        self._text: list[str] = []
        self._samples = 0
        self._output_reported = 0
        self.outcome = None

    @property
    def counts(self) -> TokenCounts:
        raise NotImplementedError

    @property
    def output_sent(self) -> TokenCounts:
        """The text and dub handed to the socket so far."""
        return output_counts("".join(self._text), self._samples)

    def sent_text(self, piece: str) -> None:
        with self._lock:
            self._text.append(piece)
            self._report_output()

    def sent_audio(self, samples: int) -> None:
        with self._lock:
            self._samples += samples
            self._report_output()

    def _report_output(self) -> None:
        produced = self.counts.output_tokens
        self._output_quota.add_tokens(self._output_quota_key, produced - self._output_reported)
        self._output_reported = produced

    def _close_once(self, outcome: Outcome) -> TokenCounts | None:
        """The final counts, or None if an earlier exit already closed the books."""
        with self._lock:
            if self.outcome is not None:
                return None
            self.outcome = outcome
            return self.counts
