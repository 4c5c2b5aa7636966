"""The books: the manifest's totals are sums of its request records, and they equal what
the provider billed, request id by request id, including under injected faults."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from support.emulator import Emulator
from support.library import MediaLibrary
from support.translate_checks import assert_books_balance, billed_kinds, translate


def test_manifest_totals_equal_the_ledger(
    emulator: Emulator, media: MediaLibrary, tmp_path
) -> None:
    # Chunks of at most 6 s turn the 16.6 s sample into several concurrent requests.
    run = translate(
        emulator,
        media.speech_mp3,
        tmp_path / "out",
        "--target",
        "en",
        env={"LTB_TARGET_CHUNK_S": "6"},
    )
    assert run.status == 0, run.stderr
    manifest = run.manifest
    assert manifest["outcome"] == "ok"
    assert manifest["provider"] == "emulator"
    assert manifest["totals"]["requests"] >= 3
    ledger = emulator.ledger()
    assert_books_balance(manifest, ledger)
    assert manifest["totals"]["by_kind"] == billed_kinds(ledger)
    assert manifest["totals"]["estimated_requests"] == 0


def test_books_balance_under_429s_500s_and_cut_streams(
    unreliable: Emulator, media: MediaLibrary, tmp_path
) -> None:
    unreliable.reset()
    run = translate(
        unreliable,
        media.speech_mp3,
        tmp_path / "out",
        "--target",
        "de",
        env={"LTB_TARGET_CHUNK_S": "4"},
    )
    assert run.status == 0, run.stderr
    manifest = run.manifest
    outcomes = Counter(r["outcome"] for r in manifest["requests"])
    # The faults really happened, and every chunk still came back.
    assert (
        outcomes["provider_rate_limited"]
        + outcomes["provider_unavailable"]
        + outcomes["stream_cut"]
        > 0
    )
    assert all(c["status"] in ("done", "silent") for c in manifest["chunks"])
    ledger = unreliable.ledger()
    assert_books_balance(manifest, ledger)


def test_every_failed_attempt_is_recorded_with_its_request_id(
    unreliable: Emulator, media: MediaLibrary, tmp_path
) -> None:
    unreliable.reset()
    run = translate(
        unreliable,
        media.speech_wav,
        tmp_path / "out",
        "--target",
        "fr",
        "--outputs",
        "text",
        env={"LTB_TARGET_CHUNK_S": "4"},
    )
    assert run.status == 0, run.stderr
    recorded = {r["request_id"] for r in run.manifest["requests"]}
    assert {e["request_id"] for e in unreliable.ledger()} <= recorded


def test_truncated_answers_are_split_and_redone(
    terse: Emulator, media: MediaLibrary, tmp_path
) -> None:
    terse.reset()
    run = translate(terse, media.speech_mp3, tmp_path / "out", "--target", "en")
    assert run.status == 0, run.stderr
    manifest = run.manifest
    split = [c for c in manifest["chunks"] if c["status"] == "split"]
    assert split, "the 120-token cap should truncate the first answer"
    assert all(c["finish_reason"] == "length" for c in split)
    assert any(w.startswith("output_truncated") for w in manifest["warnings"])
    # Leaf chunks tile the timeline and none of them was published truncated.
    leaves = sorted(
        (c for c in manifest["chunks"] if c["status"] in ("done", "silent")),
        key=lambda c: c["start_s"],
    )
    assert leaves[0]["start_s"] == 0
    for before, after in itertools.pairwise(leaves):
        assert before["end_s"] == pytest.approx(after["start_s"], abs=1e-3)
    assert all(c["finish_reason"] in (None, "stop") for c in leaves)
    assert_books_balance(manifest, terse.ledger())
