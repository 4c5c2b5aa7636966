"""Realtime emulators as real processes, one per fault profile, shared per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.emulator import Emulator, start_emulator

KEY = "sk-realtime-client-tests-000000000000"


def _emulator(
    tmp_path_factory: pytest.TempPathFactory, name: str, *options: str
) -> Iterator[Emulator]:
    with start_emulator(
        ["--api-key", KEY, *options], api_key=KEY, log_dir=tmp_path_factory.mktemp(name)
    ) as running:
        yield running


@pytest.fixture(scope="session")
def realtime_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _emulator(tmp_path_factory, "realtime")


@pytest.fixture
def provider(realtime_provider: Emulator) -> Emulator:
    realtime_provider.reset()
    realtime_provider.configure(fail_500=0.0, cut=0.0, moderation=0.0, fail_429=0.0)
    return realtime_provider
