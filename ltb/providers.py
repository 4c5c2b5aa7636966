"""Which provider served a request: DashScope itself, or the emulator standing in for it.

The emulator names itself in a response header on every answer, so a client pointed at an
emulator by URL (Compose, tests) knows it as surely as one that started it in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ltb.errors import LtbError
from ltb.settings import Settings

Provider = Literal["dashscope", "emulator"]
DASHSCOPE: Provider = "dashscope"
EMULATOR: Provider = "emulator"

# The real API never sends it; the emulator sends it on every answer, refusals included.
EMULATOR_HEADER = "x-ltb-emulator"


def served_by(headers: Mapping[str, str]) -> Provider:
    """Who sent a response with these headers."""
    return EMULATOR if headers.get(EMULATOR_HEADER) else DASHSCOPE


def require_provider_key(settings: Settings) -> None:
    """Production never falls back to the emulator: without a key it refuses to run."""
    if settings.profile == "production" and not settings.provider_key:
        raise LtbError(
            "LTB_PROFILE=production needs DASHSCOPE_API_KEY; without it every job would be "
            "answered by the built-in emulator's placeholder translations. Set the key, or use "
            "LTB_PROFILE=embedded to try the service against the emulator.",
            code="provider_key_missing",
        )


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    """Where a process sends its requests. `provider` is None when the URL alone does
    not tell (a configured URL may be an emulator); the answers' headers tell then."""

    base_url: str
    api_key: str
    provider: Provider | None

    @property
    def emulated(self) -> bool:
        """Whether this process started the emulator itself, for want of a key."""
        return self.provider == EMULATOR
