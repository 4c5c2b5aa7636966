"""The output registry (ltb/outputs.py) is the one list of output kinds: every kind has
a writer, and the names, checks and defaults elsewhere are derived from it."""

from __future__ import annotations

import pytest

from ltb.errors import RequestRefused
from ltb.languages import AUDIO_TARGETS, LANGUAGES, OUTPUT_KINDS, check_outputs, outputs_for
from ltb.outputs import OUTPUTS, spoken
from ltb.states import Engine, OutputKind
from ltb.views import OUTPUT_FILES
from pipeline.assemble import WRITERS


def test_every_registered_output_kind_has_a_writer_and_no_writer_lacks_a_kind() -> None:
    assert set(WRITERS) == set(OUTPUTS) == set(OutputKind)


def test_the_request_checks_and_file_names_follow_the_registry() -> None:
    assert tuple(OUTPUTS) == OUTPUT_KINDS
    assert check_outputs(list(reversed(OUTPUT_KINDS)), engine=Engine.REALTIME) == OUTPUT_KINDS
    assert {kind: spec.file_name for kind, spec in OUTPUTS.items()} == OUTPUT_FILES
    assert len(set(OUTPUT_FILES.values())) == len(OUTPUT_FILES)


def test_a_spoken_output_is_offered_only_for_targets_the_provider_speaks() -> None:
    for target in LANGUAGES:
        offered = outputs_for(target, engine=Engine.FILE)
        assert spoken(offered) == (target in AUDIO_TARGETS), target
        assert {"text", "srt", "vtt"} <= set(offered)
    assert "wav" in outputs_for("en") and "wav" not in outputs_for("th")


def test_the_outside_schemas_use_the_core_kinds_and_states() -> None:
    from ltb import schemas, states

    assert schemas.OutputKind is states.OutputKind
    assert schemas.JobStatus is states.JobStatus and schemas.JobStage is states.JobStage
    assert {kind.value for kind in schemas.OutputFileKind} == {*OUTPUT_KINDS, "manifest"}


def test_a_kind_only_another_engine_builds_is_refused_with_a_code_naming_that_engine() -> None:
    realtime_only = [k for k, spec in OUTPUTS.items() if spec.engines == {Engine.REALTIME}]
    assert realtime_only
    for kind in realtime_only:
        with pytest.raises(RequestRefused) as refused:
            check_outputs(["text", kind], engine=Engine.FILE)
        assert refused.value.code == "output_needs_realtime_engine"
        assert kind not in outputs_for("en", engine=Engine.FILE)
        assert kind in outputs_for("en", engine=Engine.REALTIME)


def test_the_deliverables_are_made_only_when_asked_for_by_name() -> None:
    assert outputs_for("en", by_default=True) == ("text", "srt", "vtt", "wav")
    assert set(outputs_for("en")) >= {"ttml", "mix_wav", "mp4", "mkv"}
    # A target without a voice gets the deliverables that are not spoken.
    assert "ttml" in outputs_for("th") and "mp4" not in outputs_for("th")


def test_only_the_videos_need_a_picture_and_a_sound_only_name_says_so() -> None:
    import pytest

    from ltb.errors import RequestRefused
    from ltb.outputs import audio_only_key, check_video_outputs, needs_video

    assert needs_video(OUTPUT_KINDS) == ("mp4", "mkv")
    assert all(audio_only_key(f"folder/talk{ext}") for ext in (".WAV", ".mp3", ".m4a", ".opus"))
    assert not any(audio_only_key(name) for name in ("film.mp4", "clip.mkv", "memo", "a.wav/b"))
    check_video_outputs(["mp4"], has_video=True, source="film.mp4")
    check_video_outputs(["wav", "mix_wav", "ttml"], has_video=False, source="talk.wav")
    with pytest.raises(RequestRefused) as refused:
        check_video_outputs(["srt", "mkv"], has_video=False, source="talk.wav")
    assert refused.value.code == "video_output_needs_video"
