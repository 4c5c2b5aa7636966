"""What one realtime response costs, by the provider's formulas (seed 001, "課金"):

- input: 12.5 tokens per second of the audio received in the response's window (from the
  end of the previous response's window to the moment this utterance was found to be
  over), plus 0.5 token per 28 x 28 pixels of each image received in that window;
- output: the translated text at the output-text rule of the file emulator, the dub at
  12.5 tokens per second, and the source transcript (when asked for) at the output-text
  rate, added to the text tokens.

Audio after the last response's window (trailing silence, or a session with no speech)
belongs to no response and is not billed: usage exists only in response.done, and the
ledger bills nothing that no response.done reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emulator.billing import text_tokens
from emulator.ledger import Ledger, LedgerEntry, Outcome
from emulator.limits import QuotaWindows
from emulator.output_books import StreamedOutput
from emulator.realtime.images import AcceptedImage
from ltb.tokens import MAX_INPUT_TOKENS, audio_tokens
from ltb.usage import TokenCounts


def input_counts(audio_s: float, images: Sequence[AcceptedImage]) -> TokenCounts:
    """Input of one response; images are counted as the books' video kind."""
    return TokenCounts(
        input_audio=audio_tokens(audio_s), input_video=sum(image.tokens for image in images)
    )


def over_input_limit(counts: TokenCounts) -> bool:
    return counts.input_tokens > MAX_INPUT_TOKENS


def realtime_usage(counts: TokenCounts) -> dict[str, Any]:
    """The usage object of response.done."""
    return {
        "total_tokens": counts.total,
        "input_tokens": counts.input_tokens,
        "output_tokens": counts.output_tokens,
        "input_tokens_details": {
            "text_tokens": counts.input_text,
            "audio_tokens": counts.input_audio,
            "image_tokens": counts.input_video,
        },
        "output_tokens_details": {
            "text_tokens": counts.output_text,
            "audio_tokens": counts.output_audio,
        },
    }


@dataclass
class ResponseBooks(StreamedOutput):
    """The books of one response: output counted as it is handed to the socket, one ledger
    entry written by whichever exit comes first (done, cut, moderated, disconnected)."""

    response_id: str
    session_id: str
    api_key: str
    quota_key: str
    model: str
    inputs: TokenCounts
    audio_in_s: float
    images: int
    detail: dict[str, Any]
    ledger: Ledger
    quota: QuotaWindows
    _transcript: str = ""

    def __post_init__(self) -> None:
        self._start_output(self.quota, self.quota_key)
        self.quota.add_tokens(self.quota_key, self.inputs.input_tokens)

    @property
    def transcript_tokens(self) -> int:
        return text_tokens(self._transcript)

    @property
    def counts(self) -> TokenCounts:
        transcript = TokenCounts(output_text=self.transcript_tokens)
        return self.inputs + self.output_sent + transcript

    def sent_transcript(self, transcript: str) -> None:
        with self._lock:
            self._transcript = transcript
            self._report_output()

    def close(
        self, outcome: Outcome, *, finish_reason: str | None = None, error_code: str | None = None
    ) -> None:
        counts = self._close_once(outcome)
        if counts is None:
            return
        self.ledger.record(
            LedgerEntry.build(
                request_id=self.response_id,
                api_key=self.api_key,
                model=self.model,
                outcome=outcome,
                status=200,
                counts=counts,
                input_kind="audio+image" if self.images else "audio",
                media_duration_s=self.audio_in_s,
                error_code=error_code,
                finish_reason=finish_reason,
                kind="realtime",
                realtime={
                    **self.detail,
                    "images": self.images,
                    "transcript_tokens": self.transcript_tokens,
                    "usage": realtime_usage(counts),
                },
            )
        )
