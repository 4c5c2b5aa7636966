"""What the provider client does at its limits: a stream that outlives the total timeout,
and a provider asking to be retried absurdly late."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.emulator import Emulator, start_emulator
from support.library import MediaLibrary
from support.translate_checks import assert_books_balance, translate

KEY = "sk-provider-limits-000000000000000"


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Streams last as long as the speech they translate: 16.6 s for the sample."""
    with start_emulator(
        ["--api-key", KEY, "--realtime-factor", "1.0"],
        api_key=KEY,
        log_dir=tmp_path_factory.mktemp("slow"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def grudging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Refuses every request with 429 and a Retry-After of a whole day."""
    with start_emulator(
        ["--api-key", KEY, "--fail-429", "1.0", "--retry-after-s", "86400"],
        api_key=KEY,
        log_dir=tmp_path_factory.mktemp("grudging"),
    ) as running:
        yield running


def test_a_total_timeout_books_the_output_already_received(
    slow: Emulator, media: MediaLibrary, tmp_path
) -> None:
    slow.reset()
    # 10 s into a 16.6 s stream: all of the text and part of the dub have arrived.
    run = translate(
        slow,
        media.speech_mp3,
        tmp_path / "out",
        "--target",
        "en",
        "--outputs",
        "text,wav",
        env={"LTB_PROVIDER_TOTAL_TIMEOUT_S": "10", "LTB_PROVIDER_MAX_ATTEMPTS": "1"},
    )
    assert run.status != 0
    manifest = run.manifest
    assert manifest["outcome"] == "failed"
    assert manifest["error"]["code"] == "provider_timeout"
    timed_out = [r for r in manifest["requests"] if r["outcome"] == "provider_timeout"]
    assert timed_out and all(r["request_id"] for r in timed_out)
    for record in timed_out:
        entry = slow.entry(record["request_id"])
        # The provider billed what it streamed before the client gave up ...
        assert entry["outcome"] == "client_disconnected"
        assert entry["usage"]["completion_tokens"] > 0
        # ... and the books hold at least that much, not the input alone.
        assert record["estimated"]
        assert record["usage"]["output_text"] > 0
    # Text and dub alike: every kind booked is at least what the provider billed.
    assert_books_balance(manifest, slow.ledger())


def test_a_retry_after_of_a_day_is_capped(
    grudging: Emulator, media: MediaLibrary, tmp_path
) -> None:
    grudging.reset()
    # Honouring the header would hold the run for a day; the cap lets it retry in 1 s.
    run = translate(
        grudging,
        media.speech_mp3,
        tmp_path / "out",
        "--target",
        "en",
        env={"LTB_PROVIDER_MAX_ATTEMPTS": "2", "LTB_PROVIDER_RETRY_AFTER_MAX_S": "1"},
        timeout_s=120,
    )
    assert run.status != 0
    manifest = run.manifest
    assert manifest["error"]["code"] == "provider_rate_limited"
    assert [r["outcome"] for r in manifest["requests"]] == ["provider_rate_limited"] * 2
    assert len(grudging.ledger()) == 2
