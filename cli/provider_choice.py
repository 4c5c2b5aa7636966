"""Which provider a local command talks to, and how it tells the user: the choice itself
is `pipeline.provider.provider_endpoint`, the same one the workers make."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ltb.settings import Settings
from pipeline.provider import ProviderClient, client_for, provider_endpoint


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


@contextmanager
def chosen_provider(settings: Settings) -> Iterator[ChosenProvider]:
    with provider_endpoint(settings) as endpoint:
        client = client_for(endpoint, settings)
        try:
            yield ChosenProvider(client, emulated=endpoint.emulated)
        finally:
            client.close()
