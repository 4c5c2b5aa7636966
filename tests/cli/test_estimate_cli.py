"""`ltb estimate`: the JSON equals the formulas on every test file; bad input gets a code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.library import MediaLibrary

LTB = str(Path(sys.executable).parent / "ltb")


def estimate(*args: str) -> tuple[int, dict, str]:
    done = subprocess.run([LTB, "estimate", *args], capture_output=True, text=True, timeout=300)
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def test_audio_file_json_has_the_documented_shape_and_formula_values(media: MediaLibrary) -> None:
    status, report, _ = estimate(str(media.speech_wav), "--json")
    assert status == 0
    assert set(report) >= {
        "file",
        "duration_s",
        "has_video",
        "video",
        "speech",
        "single_request",
        "chunks",
        "totals",
        "cost",
    }
    assert report["has_video"] is False and report["video"] is None
    assert report["duration_s"] == pytest.approx(16.591, abs=0.001)
    # ceil(12.5 * 16.59125) = ceil(207.39) = 208
    assert report["single_request"] == {
        "audio_tokens": 208,
        "video_tokens": 0,
        "input_tokens": 208,
        "fits_input_limit": True,
    }
    assert report["speech"]["regions"] >= 4
    (chunk,) = report["chunks"]
    assert set(chunk) >= {
        "index",
        "start_s",
        "end_s",
        "speech_s",
        "audio_tokens",
        "video_tokens",
        "input_tokens",
        "est_output_tokens",
        "payload_chars",
        "delivery",
    }
    assert chunk["audio_tokens"] == 208 and chunk["delivery"] == "inline"
    assert report["totals"]["requests"] == 1 and report["totals"]["input_tokens"] == 208
    assert report["cost"]["currency"] == "USD" and report["cost"]["price_table"]
    assert report["cost"]["amount"] > 0


# Video tokens by hand (seed 000's formula; OpenCV's frames and fps):
#   landscape 1280x720, 498 frames at 30 fps = 16.6 s; .6 > .5 keeps the fraction: 498 usable,
#     498 / 30 * 2 = 33.2 -> 33 frames; cap min(786432, 16384*1024*2/33) = 786432 px;
#     704x1280 > cap -> scale by sqrt(921600/786432) -> 640x1152; ceil(33/2)=17 * 20 * 36 + 2 = 12242
#   portrait 720x1280 at 59.94 fps, 994 frames: the same transposed = 12242
#   uhd 3840x2160, 96 frames at 24 fps = 4 s -> 8 frames; 2176x3840 > cap -> 640x1152;
#     4 * 20 * 36 + 2 = 2882
#   tiny 64x48, 415 frames at 25 fps -> 33 frames; 64x64 < 128*1024 px -> scale up by
#     sqrt(131072/3072) = 6.53 -> ceil32(313.5)=320 x ceil32(418)=448; 17 * 10 * 14 + 2 = 2382
@pytest.mark.parametrize(
    ("name", "video_tokens"),
    [("landscape_mp4", 12242), ("portrait_5994_mp4", 12242), ("uhd_mp4", 2882), ("tiny_mp4", 2382)],
)
def test_video_single_request_equals_the_formula(
    media: MediaLibrary, name: str, video_tokens: int
) -> None:
    status, report, _ = estimate(str(getattr(media, name)), "--json", "--visual-context", "on")
    assert status == 0
    single = report["single_request"]
    assert single["video_tokens"] == video_tokens
    assert single["input_tokens"] == single["audio_tokens"] + video_tokens
    # Chunks carry the shaped payload's video tokens: never more than the source's.
    assert 0 < sum(c["video_tokens"] for c in report["chunks"]) <= video_tokens
    _status_off, report_off, _ = estimate(str(getattr(media, name)), "--json")
    assert report_off["single_request"]["video_tokens"] == 0
    assert report_off["totals"]["input_tokens"] < report["totals"]["input_tokens"]


def test_silent_file_is_no_speech_with_nothing_to_bill(media: MediaLibrary) -> None:
    status, report, _ = estimate(str(media.silence_wav), "--json")
    assert status == 0
    assert report["outcome"] == "no_speech"
    assert report["totals"]["requests"] == 0
    assert report["cost"]["amount"] == 0


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty_mp4", "empty_file"),
        ("text_mp4", "unsupported_media"),
        ("truncated_mp4", "unsupported_media"),
        ("silent_video_mp4", "no_audio_stream"),
        ("wide_mp4", "aspect_ratio_out_of_range"),
    ],
)
def test_bad_files_exit_2_with_only_an_error_object(
    media: MediaLibrary, name: str, code: str
) -> None:
    status, report, stderr = estimate(str(getattr(media, name)), "--json")
    assert status == 2
    assert report == {"error": {"code": code, "message": report["error"]["message"]}}
    assert "Traceback" not in stderr


@pytest.mark.parametrize("name", ["text_mp4", "silent_video_mp4", "empty_mp4"])
def test_errors_name_the_file_as_the_user_gave_it(
    media: MediaLibrary, tmp_path: Path, name: str
) -> None:
    (tmp_path / "lib").mkdir()
    shutil.copyfile(getattr(media, name), tmp_path / "lib" / "broken.mp4")
    done = subprocess.run(
        [LTB, "estimate", "lib/broken.mp4", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "lib/broken.mp4" in json.loads(done.stdout)["error"]["message"]


def test_too_large_and_too_long_follow_the_configured_caps(
    media: MediaLibrary, monkeypatch
) -> None:
    monkeypatch.setenv("LTB_MAX_DURATION_S", "3")
    status, report, _ = estimate(str(media.speech_wav), "--json")
    assert (status, report["error"]["code"]) == (2, "too_long")
    monkeypatch.setenv("LTB_MAX_SOURCE_BYTES", "100")
    status, report, _ = estimate(str(media.speech_wav), "--json")
    assert (status, report["error"]["code"]) == (2, "too_large")


def test_refusals_without_json_print_a_coded_message_and_no_traceback(media: MediaLibrary) -> None:
    done = subprocess.run(
        [LTB, "estimate", str(media.speech_wav), "--target", "th", "--outputs", "text,wav"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "audio_output_unsupported" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [LTB, "estimate", str(media.speech_wav), "--target", "xx"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown_language" in done.stderr


def test_the_table_view_shows_the_plan_and_the_cost(media: MediaLibrary) -> None:
    done = subprocess.run(
        [LTB, "estimate", str(media.landscape_mp4), "--visual-context", "on"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    assert "12,242 video" in done.stdout
    assert "USD" in done.stdout
