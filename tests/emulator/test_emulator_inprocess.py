"""The in-process runner (`serve_in_thread`), as `ltb translate` uses it when no key is set,
and the pieces of the emulator that are plain functions."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import numpy as np
import pytest
from openai import OpenAI

from emulator.answer import Answer, pace_per_delta
from emulator.billing import fit_output, text_tokens
from emulator.config import EmulatorConfig
from emulator.content import SCRIPTS, sentence
from emulator.dub import PEAK_DBFS, espeak_available, render_dub, tone_voice
from emulator.errors import ProviderError
from emulator.faults import Fault, FaultPlan
from emulator.intake import host_allowed
from emulator.limits import QuotaWindows
from emulator.server import serve_in_thread

from support.emulator import audio_message, collect, data_uri, request_body, sdk_arguments


def test_serve_in_thread_answers_the_sdk_and_stops(short_wav: Path) -> None:
    config = EmulatorConfig(api_key="sk-in-process", first_byte_ms=20, realtime_factor=0.05)
    with serve_in_thread(config) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/compatible-mode/v1")
        client = OpenAI(api_key="sk-in-process", base_url=base_url)
        body = request_body(audio_message(data_uri(short_wav)))
        result = collect(client.chat.completions.create(**sdk_arguments(body)))
        client.close()
        assert result.finish_reason == "stop" and result.usage is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url.replace("/compatible-mode/v1", "/_emulator/health"), timeout=2)


def test_text_tokens_follow_the_documented_rule() -> None:
    assert text_tokens("") == 0
    assert text_tokens("Hello") == 2  # 5 alphabetic characters: ceil(5 / 4)
    assert text_tokens("今天很好。") == 5  # one per Han character and per 。
    assert text_tokens("안녕 하세요.") == 5 + 1  # 5 syllables; space and stop: ceil(2 / 4)
    assert text_tokens("Привет мир.") == 3  # ceil(11 / 4)


@pytest.mark.parametrize("target", list(SCRIPTS))
def test_sentences_are_about_as_long_as_asked(target: str) -> None:
    for tokens in (1, 4, 12, 40):
        made = sentence(target, tokens=tokens, rng=random.Random(tokens))
        assert tokens <= text_tokens(made) <= tokens + 8


def test_output_is_cut_text_first_then_audio() -> None:
    dub = np.ones(24_000 * 10, dtype=np.int16)  # 10 s: 125 tokens
    text = "a" * 40  # 10 tokens
    whole = fit_output(text, dub, 500)
    assert (whole.text, whole.dub.size, whole.truncated) == (text, dub.size, False)
    # 10 tokens of text, 20 of audio: ceil(12.5 x s) <= 20 -> s <= 1.6 s
    cut = fit_output(text, dub, 30)
    assert (cut.text, cut.dub.size, cut.truncated) == (text, 38_400, True)
    # Less than 13 tokens left (a dub costs at least one second): no audio at all.
    assert fit_output(text, dub, 22).dub.size == 0
    assert fit_output(text, dub, 5).text == "a" * 20


def test_the_tone_voice_is_exact_in_length_and_level() -> None:
    voice = tone_voice(24_000 * 3, seed="x")
    assert voice.size == 72_000 and voice.dtype == np.int16
    peak_dbfs = 20 * np.log10(np.abs(voice).max() / 32768)
    assert peak_dbfs == pytest.approx(PEAK_DBFS, abs=0.1)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is an optional voice")
def test_the_espeak_voice_is_stretched_to_the_dub_length() -> None:
    dub = render_dub(["Gugo tame."], "en", speech_s=2.0, factor=1.1, engine="espeak")
    assert dub.size == 52_800  # 2.0 s x 1.1 x 24 kHz
    assert np.abs(dub).max() > 1000


def test_quota_windows_slide() -> None:
    now = [0.0]
    quota = QuotaWindows(rpm=2, tpm=100, clock=lambda: now[0])
    quota.admit_request("k")
    quota.admit_request("k")
    with pytest.raises(ProviderError, match="Requests rate limit") as refused:
        quota.admit_request("k")
    assert refused.value.retry_after_s == 60
    now[0] = 60.001
    quota.admit_request("k")
    quota.admit_tokens("k", 70)
    quota.add_tokens("k", 20)
    now[0] = 90.0
    # 90 tokens in the window, 20 more asked: the 70 admitted at 60.001 s must expire first.
    with pytest.raises(ProviderError, match="Allocated quota") as over:
        quota.admit_tokens("k", 20)
    assert over.value.retry_after_s == 31


def test_fault_draws_repeat_for_a_seed_and_forced_faults_do_not_shift_them() -> None:
    def plan() -> FaultPlan:
        return FaultPlan(fail_429=0.2, fail_500=0.2, cut=0.2, moderation=0.2, seed=3)

    first, second = plan(), plan()
    a = [first.draw().kind for _ in range(20)]
    b = [second.draw("stall" if i == 5 else None).kind for i in range(20)]
    assert a[:5] + a[6:] == b[:5] + b[6:] and b[5] == "stall"
    assert {None, "429", "500", "cut", "moderation"} == set(a)
    assert Fault("cut", 0.99).strikes_after(10) == 9
    assert Fault("cut", 0.0).strikes_after(10) == 1
    assert Fault("500").strikes_after(10) is None


def test_pacing_spreads_the_media_duration_over_the_deltas() -> None:
    answer = Answer(text_pieces=("a", "b"), pcm_pieces=(b"", b""), finish_reason="stop")
    assert pace_per_delta(answer, media_s=8.0, realtime_factor=0.5) == 1.0
    assert pace_per_delta(answer, media_s=8.0, realtime_factor=0.0) == 0.0


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:9000/a.wav", True),
        ("http://localhost/a.wav", True),
        ("http://[::1]:80/a.wav", True),
        ("http://127.8.9.10/a.wav", True),
        ("http://10.0.0.1/a.wav", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("https://bucket.s3.amazonaws.com/a.wav", False),
    ],
)
def test_only_loopback_urls_are_fetched_by_default(url: str, allowed: bool) -> None:
    assert host_allowed(url, EmulatorConfig().url_allow_hosts) is allowed
    assert host_allowed(url, ("*",)) is True
