"""Which provider a local command talks to: DashScope when a key is set, otherwise an
emulator started inside this process (and the user is told so). The production profile
never falls back to the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ltb.providers import EMULATOR, require_provider_key
from ltb.settings import Settings
from worker.provider import ProviderClient, Timeouts


@dataclass(frozen=True, slots=True)
class ChosenProvider:
    client: ProviderClient
    emulated: bool

    @property
    def description(self) -> str:
        if self.emulated:
            return (
                "No DASHSCOPE_API_KEY is set: using the built-in emulator. Its translations are "
                "placeholders; its token counts follow the provider's real formulas."
            )
        return f"Provider: {self.client.base_url} (model {self.client.model})"


def timeouts(settings: Settings) -> Timeouts:
    return Timeouts(
        connect_s=settings.provider_connect_timeout_s,
        first_byte_s=settings.provider_first_byte_timeout_s,
        total_s=settings.provider_total_timeout_s,
    )


@contextmanager
def chosen_provider(settings: Settings) -> Iterator[ChosenProvider]:
    require_provider_key(settings)
    key = settings.provider_key
    if key:
        client = ProviderClient(
            base_url=settings.provider_base_url,
            api_key=key,
            model=settings.model,
            timeouts=timeouts(settings),
        )
        try:
            yield ChosenProvider(client, emulated=False)
        finally:
            client.close()
        return
    from emulator.config import EmulatorConfig
    from emulator.server import serve_in_thread

    with serve_in_thread(EmulatorConfig()) as base_url:
        client = ProviderClient(
            base_url=base_url,
            api_key="local-emulator",
            model=settings.model,
            timeouts=timeouts(settings),
            provider=EMULATOR,
        )
        try:
            yield ChosenProvider(client, emulated=True)
        finally:
            client.close()
