"""Emulators as real processes (`ltb emulator`), shared per session, and the media they hear.

Each differently configured emulator is one process, started the first time a test asks for
it and stopped at the end of the session. Tests that read the ledger reset it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.emulator import API_KEY, Emulator, start_emulator
from support.media import speech_timeline, write_audio

ENV_KEY = "sk-from-environment-key-9876"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The default emulator: real limits, one required key, stalls held for 30 s."""
    with start_emulator(
        ["--api-key", API_KEY, "--stall-s", "30"],
        api_key=API_KEY,
        log_dir=tmp_path_factory.mktemp("emulator-default"),
    ) as running:
        yield running


@pytest.fixture
def fresh(emulator: Emulator) -> Emulator:
    """The default emulator with an empty ledger and empty quota windows."""
    emulator.reset()
    return emulator


@pytest.fixture(scope="session")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """3 requests and 100 tokens per minute per key; no key configured, so any key works."""
    with start_emulator(
        ["--rpm", "3", "--tpm", "100"],
        api_key="sk-any",
        env={"LTB_EMULATOR_API_KEY": ""},
        log_dir=tmp_path_factory.mktemp("emulator-limited"),
    ) as running:
        yield running


@pytest.fixture(scope="session")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Every request meets a fault, a quarter of each kind, drawn from seed 7."""
    with start_emulator(
        [
            "--seed",
            "7",
            "--fail-429",
            "0.25",
            "--fail-500",
            "0.25",
            "--cut",
            "0.25",
            "--moderation",
            "0.25",
        ],
        api_key="sk-any",
        env={"LTB_EMULATOR_API_KEY": ""},
        log_dir=tmp_path_factory.mktemp("emulator-faulty"),
    ) as running:
        yield running


@pytest.fixture(scope="session")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Output capped at 50 tokens; its key comes from LTB_EMULATOR_API_KEY, not --api-key."""
    with start_emulator(
        ["--max-output-tokens", "50"],
        api_key=ENV_KEY,
        env={"LTB_EMULATOR_API_KEY": ENV_KEY},
        log_dir=tmp_path_factory.mktemp("emulator-capped"),
    ) as running:
        yield running


# --- media --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator-media")


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    """Two utterances (English, Chinese) with pauses: 12.8 s, two speech regions."""
    return write_audio(
        media_dir / "speech.wav", speech_timeline([1.0, "en_0.flac", 0.5, "zh_0.flac", 1.0])
    )


@pytest.fixture(scope="session")
def speech_mp3(media_dir: Path) -> Path:
    return write_audio(
        media_dir / "speech.mp3", speech_timeline([1.0, "en_0.flac", 0.5, "zh_0.flac", 1.0])
    )


@pytest.fixture(scope="session")
def short_wav(media_dir: Path) -> Path:
    """One short utterance ("Yes.") in 1.4 s: the cheapest request with speech."""
    return write_audio(media_dir / "short.wav", speech_timeline([0.5, "en_3.flac", 0.5]))


@pytest.fixture(scope="session")
def silence_wav(media_dir: Path) -> Path:
    """2 s of digital silence: no speech at all."""
    return write_audio(media_dir / "silence.wav", speech_timeline([2.0]))
