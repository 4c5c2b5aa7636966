"""`ltb translate --engine realtime` and `ltb estimate --engine` against `ltb emulator`
as a real process: segments streamed in parallel sessions, answers placed on the source's
timeline, the realtime outputs, and books that match the emulator's ledger."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ltb.tokens import image_tokens
from ltb.usage import TOKEN_KINDS

from support.deliverables import subtitle_events, tracks
from support.emulator import Emulator
from support.library import MediaLibrary
from support.media import speech_timeline, write_audio
from support.translate_checks import LTB, Run, ledger_kinds, read_srt_strictly, translate


def realtime_kinds(entry: dict[str, Any]) -> dict[str, int]:
    """A realtime ledger entry's billed usage by kind: images as image tokens (the ledger's
    file-API kinds book them as video)."""
    kinds = ledger_kinds(entry)
    kinds["input_image"], kinds["input_video"] = kinds["input_video"], 0
    return kinds


# Eight utterances with clear pauses: three or more segments at a 10 s segment length.
LAYOUT: list[float | str] = [
    1.0, "en_0.flac", 1.2, "en_1.flac", 1.5, "en_2.flac", 1.2, "en_3.flac",
    1.4, "en_0.flac", 1.3, "en_1.flac", 1.2, "en_2.flac", 1.5, "en_3.flac", 1.0,
]  # fmt: skip


def realtime_env(emulator: Emulator, **extra: str) -> dict[str, str]:
    return {
        "LTB_REALTIME_URL": emulator.root_url.replace("http://", "ws://") + "/api-ws/v1/realtime",
        "LTB_REALTIME_PACE": "50",
        "LTB_REALTIME_SEGMENT_S": "10",
        "LTB_REALTIME_MAX_SESSIONS": "3",
        **extra,
    }


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_audio(tmp_path_factory.mktemp("talk") / "talk.wav", speech_timeline(LAYOUT))


def run_realtime(emulator: Emulator, source: Path, out: Path, *args: str, **env: str) -> Run:
    return translate(
        emulator,
        source,
        out,
        "--engine",
        "realtime",
        "--source-lang",
        "en",
        *args,
        env=realtime_env(emulator, **env),
    )


def realtime_ledger(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger() if e["kind"] == "realtime"]


def assert_realtime_books_balance(manifest: dict[str, Any], ledger: list[dict[str, Any]]) -> None:
    """Every answered response is a record with exactly the ledger's usage; what broken
    sessions billed beyond that is within their sessions' estimated remainders; totals are
    the records' sums."""
    records = manifest["requests"]
    by_id = {r["request_id"]: r for r in records if r["request_id"]}
    for entry in ledger:
        if entry["outcome"] in ("ok", "length"):
            record = by_id[entry["request_id"]]
            assert record["usage"] == realtime_kinds(entry) and not record["estimated"]
    sessions = {
        s["session_id"]: s for c in manifest["chunks"] for s in c["sessions"] if s["session_id"]
    }
    broken: dict[str, dict[str, int]] = {}
    for entry in ledger:
        if entry["outcome"] not in ("ok", "length"):
            session_id = entry["realtime"]["session_id"]
            kinds = broken.setdefault(session_id, dict.fromkeys(TOKEN_KINDS, 0))
            for kind, value in realtime_kinds(entry).items():
                kinds[kind] += value
    for session_id, billed in broken.items():
        remainder = by_id[session_id]
        assert remainder["estimated"] and sessions[session_id]["outcome"] != "ok"
        assert all(remainder["usage"][k] >= billed[k] for k in TOKEN_KINDS), (remainder, billed)
    sums = {k: sum(r["usage"][k] for r in records) for k in TOKEN_KINDS}
    assert manifest["totals"]["by_kind"] == sums
    assert sums == {k: sum(c["tokens_billed"][k] for c in manifest["chunks"]) for k in TOKEN_KINDS}


def utterance_truth(manifest: dict[str, Any], ledger: list[dict[str, Any]]) -> list[float]:
    """Where the emulator heard each answered utterance start, on the source's timeline."""
    starts = {s["session_id"]: c["start_s"] for c in manifest["chunks"] for s in c["sessions"]}
    return sorted(
        starts[e["realtime"]["session_id"]] + e["realtime"]["utterance"]["start_s"]
        for e in ledger
        if e["outcome"] == "ok" and e["realtime"]["session_id"] in starts
    )


def test_realtime_run_places_every_cue_within_half_a_second_of_the_emulators_truth(
    emulator: Emulator, talk: Path, tmp_path: Path
) -> None:
    run = run_realtime(
        emulator,
        talk,
        tmp_path / "out",
        "--target",
        "de",
        "--outputs",
        "text,srt,wav,transcript,source_srt,source_vtt,bilingual_srt",
    )
    assert run.status == 0, run.stderr
    manifest = run.manifest
    assert manifest["engine"] == "realtime" and manifest["outcome"] == "ok"
    assert len(manifest["chunks"]) >= 3, "several segments"
    ledger = realtime_ledger(emulator)
    truth = utterance_truth(manifest, ledger)
    assert len(truth) == 8
    source_cues = read_srt_strictly((run.out / "source.srt").read_bytes())
    starts = [cue[0] for cue in source_cues]
    for heard in truth:
        assert min(abs(start - heard) for start in starts) <= 0.5, (heard, starts)
    target_cues = read_srt_strictly((run.out / "subtitles.srt").read_bytes())
    for heard in truth:
        assert min(abs(cue[0] - heard) for cue in target_cues) <= 0.5
    transcript = (run.out / "transcript.txt").read_text(encoding="utf-8")
    assert len([p for p in transcript.split("\n\n") if p.strip()]) == 8
    assert (run.out / "source.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    bilingual = (run.out / "bilingual.srt").read_text(encoding="utf-8")
    assert bilingual.count(" --> ") >= 8
    assert (run.out / "dub.wav").exists() and (run.out / "translation.txt").exists()
    assert_realtime_books_balance(manifest, ledger)
    assert manifest["job"]["model"] == "qwen3-livetranslate-flash-realtime"


def test_sessions_cut_or_failed_mid_way_are_redone_whole_and_booked(
    emulator: Emulator, talk: Path, tmp_path: Path
) -> None:
    emulator.configure(cut=0.15, fail_500=0.1, seed=5)
    try:
        run = run_realtime(emulator, talk, tmp_path / "out", "--target", "en", "--outputs", "srt")
    finally:
        emulator.configure(cut=0.0, fail_500=0.0)
    assert run.status == 0, run.stderr
    manifest = run.manifest
    assert manifest["totals"]["redone_sessions"] >= 1
    redone = [c for c in manifest["chunks"] if len(c["sessions"]) > 1]
    assert all(c["sessions"][-1]["outcome"] == "ok" for c in manifest["chunks"])
    assert all(
        s["outcome"] in ("stream_cut", "provider_unavailable")
        for c in redone
        for s in c["sessions"][:-1]
    )
    assert_realtime_books_balance(manifest, realtime_ledger(emulator))


def test_realtime_without_a_source_language_is_refused_before_anything_is_sent(
    emulator: Emulator, talk: Path, tmp_path: Path
) -> None:
    run = translate(
        emulator, talk, tmp_path / "out", "--engine", "realtime", "--target", "de",
        env=realtime_env(emulator),
    )  # fmt: skip
    assert run.status == 2 and "source_lang_required" in run.stderr
    assert realtime_ledger(emulator) == []


def test_realtime_only_outputs_with_the_file_engine_are_refused(
    emulator: Emulator, talk: Path, tmp_path: Path
) -> None:
    run = translate(emulator, talk, tmp_path / "out", "--target", "de", "--outputs", "transcript")
    assert run.status == 2 and "output_needs_realtime_engine" in run.stderr


def test_estimate_shows_both_engines_side_by_side(media: MediaLibrary) -> None:
    done = subprocess.run(
        [LTB, "estimate", str(media.speech_wav), "--engine", "both", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    engines = json.loads(done.stdout)["engines"]
    assert set(engines) == {"file", "realtime"}
    for report in engines.values():
        assert report["total_tokens"] > 0 and report["cost"]["amount"] > 0 and report["wall_s"] > 0
    assert engines["realtime"]["model"] == "qwen3-livetranslate-flash-realtime"
    # At real time a session lasts as long as its audio: the realtime engine is slower.
    assert engines["realtime"]["wall_s"] >= engines["file"]["wall_s"]


def test_visual_context_sends_downscaled_frames_billed_as_image_tokens(
    emulator: Emulator, media: MediaLibrary, tmp_path: Path
) -> None:
    run = run_realtime(
        emulator,
        media.landscape_mp4,
        tmp_path / "out",
        "--target",
        "en",
        "--outputs",
        "text",
        "--visual-context",
        "on",
        LTB_REALTIME_SEGMENT_S="60",
    )
    assert run.status == 0, run.stderr
    manifest = run.manifest
    frames = sum(c["frames"] for c in manifest["chunks"])
    assert frames >= 10  # one a second over ~16 s of video
    per_frame = image_tokens(width=854, height=480)  # 1280x720 downscaled to 480p
    ledger = realtime_ledger(emulator)
    billed_images = sum(e["realtime"]["usage"]["input_tokens_details"]["image_tokens"]
                        for e in ledger if e["outcome"] == "ok")  # fmt: skip
    # Frames after the last answer are never billed by the emulator; all others are.
    assert 0 < billed_images <= frames * per_frame and billed_images % per_frame == 0
    assert manifest["totals"]["by_kind"]["input_image"] == billed_images
    assert manifest["totals"]["by_kind"]["input_video"] == 0
    assert all(r["engine"] == "realtime" for r in manifest["requests"])
    assert_realtime_books_balance(manifest, ledger)


def test_a_realtime_dubbed_video_carries_the_transcript_as_a_second_subtitle_track(
    emulator: Emulator, media: MediaLibrary, tmp_path: Path
) -> None:
    run = run_realtime(
        emulator,
        media.landscape_mp4,
        tmp_path / "out",
        "--target",
        "de",
        "--outputs",
        "mkv,source_srt",
        LTB_REALTIME_SEGMENT_S="60",
    )
    assert run.status == 0, run.stderr
    video = run.out / "dubbed.mkv"
    found = tracks(video)
    assert [t.kind for t in found] == ["video", "audio", "audio", "subtitle", "subtitle"]
    target, source = found[3], found[4]
    assert (target.language, source.language) == ("ger", "eng")
    # The source track holds the very cues of source.srt: one set of source cues for both.
    cues = read_srt_strictly((run.out / "source.srt").read_bytes())
    assert subtitle_events(video, 1) == len(cues) > 0
    assert run.manifest["mix"]["mode"] == "replace"
