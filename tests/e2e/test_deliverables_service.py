"""The deliverables through the whole service: a job asks for the dubbed MP4 and MKV, the
mix and TTML; the files in S3 are read back as a player and a loudness meter read them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import httpx
import pytest

from ltb.outputs import OUTPUTS
from ltb.storage import ObjectRef

from e2e_support import Service, ServiceEnv, upload
from support.deliverables import (
    decoded_audio,
    duration_s,
    frame_s,
    loudness_lufs,
    subtitle_events,
    top_level_boxes,
    tracks,
    video_packet_sizes,
    wav_loudness_lufs,
)
from support.library import MediaLibrary


@pytest.fixture(scope="module")
def demo_sample() -> Path:
    with resources.as_file(resources.files("ltb").joinpath("data/demo-sample.mp4")) as sample:
        return Path(sample)


def test_a_voiceover_job_delivers_mp4_mkv_mix_and_ttml_to_s3(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    demo_sample: Path,
    tmp_path: Path,
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, demo_sample, name="film.mp4")
    job = client.submit(
        source_uri=source,
        target_lang="de",
        source_lang="zh",
        outputs=["mp4", "mkv", "mix_wav", "ttml"],
        dub_mix="voiceover",
        duck_db=-18,
    )
    done = client.wait(job["id"], timeout_s=300)
    assert done["status"] == "succeeded", done
    outputs = {o["kind"]: o for o in done["outputs"]}
    assert set(outputs) == {"mp4", "mkv", "mix_wav", "ttml", "manifest"}
    files: dict[str, Path] = {}
    for kind in ("mp4", "mkv", "mix_wav", "ttml"):
        ref = ObjectRef.parse(outputs[kind]["uri"])
        spec = OUTPUTS[kind]  # type: ignore[index]
        assert ref.key.endswith(spec.file_name)
        assert service_env.store.head(ref).content_type == spec.content_type
        files[kind] = tmp_path / spec.file_name
        files[kind].write_bytes(service_env.store.get_bytes(ref, max_bytes=200_000_000))
    manifest = json.loads(httpx.get(outputs["manifest"]["url"]).content)
    assert (manifest["job"]["dub_mix"], manifest["job"]["duck_db"]) == ("voiceover", -18)

    for kind, codes, subtitle in (
        ("mp4", ("deu", "zho"), "mov_text"),
        ("mkv", ("ger", "chi"), "srt"),
    ):
        video = files[kind]
        found = tracks(video)
        assert [(t.kind, t.codec) for t in found] == [
            ("video", "h264"),
            ("audio", "aac"),
            ("audio", "aac"),
            ("subtitle", subtitle),
        ]
        assert (found[1].language, found[1].title, found[1].default) == (
            codes[0],
            "German (dub)",
            True,
        )
        assert (found[2].language, found[2].title) == (codes[1], "Chinese (original)")
        assert found[3].language == codes[0] and subtitle_events(video) > 0
        assert video_packet_sizes(video) == video_packet_sizes(demo_sample)
        assert abs(duration_s(video) - duration_s(demo_sample)) <= frame_s(demo_sample)
        samples, rate = decoded_audio(video, 0)
        assert loudness_lufs(samples, rate) == pytest.approx(-23.0, abs=1.0)
    boxes = top_level_boxes(files["mp4"])
    assert boxes.index("moov") < boxes.index("mdat")

    lufs, rate, _ = wav_loudness_lufs(files["mix_wav"])
    assert rate == 48_000 and lufs == pytest.approx(-23.0, abs=0.3)
    ttml = ET.parse(files["ttml"]).getroot()
    assert ttml.get("{http://www.w3.org/XML/1998/namespace}lang") == "de"


def test_a_video_asked_of_a_sound_only_source_fails_at_planning_with_a_code(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    # Its name does not say sound only, so the API takes it; the probe then finds no video.
    source = upload(service_env, name, media.speech_mp3, name="memo")
    service_env.emulator.reset()
    done = client.wait(client.submit(source_uri=source, target_lang="en", outputs=["mp4"])["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "video_output_needs_video"
    assert service_env.emulator.ledger() == []


def test_a_sound_only_name_is_refused_at_submission(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    source = upload(service_env, name, media.speech_mp3)
    response = service.client(key).http.post(
        "/v1/jobs", json={"source_uri": source, "target_lang": "en", "outputs": ["mkv"]}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "video_output_needs_video"
