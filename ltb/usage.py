"""Token counts by kind: the unit every cost figure is built from."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

TOKEN_KINDS: tuple[str, ...] = (
    "input_audio",
    "input_video",
    "input_text",
    "output_text",
    "output_audio",
    # Still images sent to the realtime engine (0.5 token per 28 x 28 pixels).
    "input_image",
)


@dataclass(frozen=True, slots=True)
class TokenCounts:
    input_audio: int = 0
    input_video: int = 0
    input_text: int = 0
    output_text: int = 0
    output_audio: int = 0
    input_image: int = 0

    @property
    def input_tokens(self) -> int:
        return self.input_audio + self.input_video + self.input_text + self.input_image

    @property
    def output_tokens(self) -> int:
        return self.output_text + self.output_audio

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenCounts) -> TokenCounts:
        return TokenCounts(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def sum(cls, counts: Iterable[TokenCounts]) -> TokenCounts:
        total = cls()
        for item in counts:
            total = total + item
        return total

    @classmethod
    def of(cls, row: object, *, prefix: str = "") -> TokenCounts:
        """The counts a row keeps in columns named after the kinds (`est_input_audio`...)."""
        return cls(**{kind: int(getattr(row, prefix + kind, 0) or 0) for kind in TOKEN_KINDS})

    @classmethod
    def from_provider_usage(cls, usage: Mapping[str, Any]) -> TokenCounts:
        """Reads the provider's usage object (docs/provider.md "Usage")."""
        prompt = usage.get("prompt_tokens_details") or {}
        completion = usage.get("completion_tokens_details") or {}
        return cls(
            input_audio=int(prompt.get("audio_tokens") or 0),
            input_video=int(prompt.get("video_tokens") or 0),
            input_text=int(prompt.get("text_tokens") or 0),
            output_text=int(completion.get("text_tokens") or 0),
            output_audio=int(completion.get("audio_tokens") or 0),
        )

    def as_provider_usage(self, *, video_input: bool) -> dict[str, Any]:
        """The usage object the provider would send for these counts."""
        prompt: dict[str, int] = {"audio_tokens": self.input_audio, "text_tokens": self.input_text}
        if video_input:
            prompt["video_tokens"] = self.input_video
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total,
            "prompt_tokens_details": prompt,
            "completion_tokens_details": {
                "audio_tokens": self.output_audio,
                "text_tokens": self.output_text,
            },
        }
