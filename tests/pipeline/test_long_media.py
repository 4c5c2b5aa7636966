"""A 70-minute generated recording, analysed and planned for real."""

from __future__ import annotations

import pytest

from ltb import tokens
from ltb.settings import Settings
from pipeline.analysis import SourceAnalysis, analyse_source
from pipeline.estimate import TranslationRequest, plan_options, plan_source
from pipeline.plan import Limits

from support.library import MediaLibrary


@pytest.fixture(scope="module")
def seventy_minutes(media: MediaLibrary) -> SourceAnalysis:
    from ltb.media.probe import MediaLimits

    return analyse_source(media.long_flac, limits=MediaLimits())


@pytest.mark.parametrize("outputs", [("text", "srt"), ("text", "srt", "wav")])
def test_seventy_minutes_plan_within_every_limit(
    seventy_minutes: SourceAnalysis, media: MediaLibrary, outputs: tuple[str, ...]
) -> None:
    assert seventy_minutes.duration_s == pytest.approx(media.long_speech.duration_s, abs=0.01)
    request = TranslationRequest.checked(target_lang="en", outputs=outputs)
    plan = plan_source(seventy_minutes, plan_options(Settings(), request, url_delivery=False))
    limits = Limits()
    assert plan.chunks[0].span.start_s == 0
    assert plan.chunks[-1].span.end_s == pytest.approx(seventy_minutes.duration_s)
    for chunk in plan.chunks:
        assert chunk.cost.input_tokens <= tokens.MAX_INPUT_TOKENS
        assert chunk.cost.output_tokens <= limits.output_budget
        assert chunk.cost.payload_chars <= 10_485_760
        assert not chunk.cut_through_speech  # there are pauses everywhere
    # Whole-file speech is ~80% of 70 minutes: text-only needs a handful of requests,
    # a dub (18 output tokens per speech second) several times more.
    if "wav" in outputs:
        assert 18 <= plan.requests <= 30
    else:
        assert 4 <= plan.requests <= 8
    # Every chunk's cuts are in pauses of the known layout.
    truth = media.long_speech.speech
    for chunk in plan.chunks[:-1]:
        cut = chunk.span.end_s
        assert not any(start + 0.2 < cut < end - 0.2 for start, end in truth)
