"""`ltb translate` against `ltb emulator` running as its own process, checked against the
emulator's ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.emulator import Emulator, start_emulator

KEY = "sk-translate-tests-0000000000000000"


def _emulator(
    tmp_path_factory: pytest.TempPathFactory, name: str, *options: str
) -> Iterator[Emulator]:
    with start_emulator(
        ["--api-key", KEY, *options], api_key=KEY, log_dir=tmp_path_factory.mktemp(name)
    ) as running:
        yield running


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    yield from _emulator(tmp_path_factory, "provider")


@pytest.fixture
def emulator(provider: Emulator) -> Emulator:
    provider.reset()
    return provider


@pytest.fixture(scope="session")
def unreliable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """429 for 30% of requests, 500 for 10%, streams cut for 10%."""
    yield from _emulator(
        tmp_path_factory,
        "unreliable",
        "--fail-429",
        "0.3",
        "--fail-500",
        "0.1",
        "--cut",
        "0.1",
        "--seed",
        "11",
    )


@pytest.fixture(scope="session")
def terse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulator that cuts every answer off at 120 output tokens."""
    yield from _emulator(tmp_path_factory, "terse", "--max-output-tokens", "120")
