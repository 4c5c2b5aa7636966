"""A job through the whole service: S3 in, workers, the provider, S3 out, books in Postgres."""

from __future__ import annotations

import json
from hashlib import sha256

import httpx
import pytest

from ltb.storage import ObjectRef

from e2e_support import Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.translate_checks import assert_books_balance, read_srt_strictly


def test_audio_job_succeeds_with_outputs_in_s3_and_books_that_balance(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    service_env.emulator.reset()
    job = client.submit(
        source_uri=source,
        target_lang="en",
        outputs=["text", "srt", "vtt", "wav"],
        labels={"customer": "acme"},
    )
    done = client.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["percent"] == 100.0
    assert done["progress"]["chunks_done"] == done["progress"]["chunks_total"] >= 1
    kinds = {o["kind"]: o for o in done["outputs"]}
    assert set(kinds) == {"text", "srt", "vtt", "wav", "manifest"}
    # Presigned URLs work for anyone holding them, for a limited time.
    srt = httpx.get(kinds["srt"]["url"]).content
    assert read_srt_strictly(srt)
    manifest = json.loads(httpx.get(kinds["manifest"]["url"]).content)
    assert manifest["outcome"] == "ok"
    assert manifest["job"]["labels"] == {"customer": "acme"}
    # The workers reach the emulator by URL with a key; its answers still say what it is.
    assert done["provider"] == manifest["provider"] == "emulator"
    ledger = service_env.emulator.ledger()
    assert_books_balance(manifest, ledger)
    usage = done["usage"]
    assert usage["requests"] == manifest["totals"]["requests"]
    assert usage["input_audio_tokens"] == manifest["totals"]["by_kind"]["input_audio"]
    assert usage["total_tokens"] == manifest["totals"]["total_tokens"]
    assert usage["cost"] == pytest.approx(manifest["cost"]["amount"], abs=1e-6)
    assert usage["price_table"] == manifest["cost"]["price_table"]
    wav = service_env.store.get_bytes(ObjectRef.parse(kinds["wav"]["uri"]), max_bytes=50_000_000)
    assert wav[:4] == b"RIFF"


def test_video_job_with_visual_context_bills_video_tokens(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.landscape_mp4)
    service_env.emulator.reset()
    job = client.submit(source_uri=source, target_lang="ja", visual_context="on")
    done = client.wait(job["id"])
    assert done["status"] == "succeeded", done
    assert done["usage"]["input_video_tokens"] > 0
    assert done["estimate"]["input_tokens"] >= done["usage"]["input_video_tokens"]
    manifest = json.loads(
        httpx.get(next(o["url"] for o in done["outputs"] if o["kind"] == "manifest")).content
    )
    assert_books_balance(manifest, service_env.emulator.ledger())


def test_estimate_only_stops_before_spending(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_wav)
    service_env.emulator.reset()
    done = client.wait(client.submit(source_uri=source, target_lang="fr", estimate_only=True)["id"])
    assert done["status"] == "estimated"
    # ceil(12.5 per second x each chunk's length), summed over the chunks the plan made
    assert 208 <= done["estimate"]["input_tokens"] <= 208 + 3
    assert done["estimate"]["cost"] > 0
    assert done["usage"]["requests"] == 0
    assert service_env.emulator.ledger() == []


def test_a_budget_below_the_estimate_fails_the_job_before_any_request(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_wav)
    service_env.emulator.reset()
    done = client.wait(
        client.submit(source_uri=source, target_lang="fr", budget={"max_input_tokens": 100})["id"]
    )
    assert done["status"] == "failed"
    assert done["error"]["code"] == "budget_exceeded"
    assert service_env.emulator.ledger() == []


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("text_mp4", "unsupported_media"),
        ("silent_video_mp4", "no_audio_stream"),
        ("empty_mp4", "empty_file"),
    ],
)
def test_a_bad_source_fails_its_job_with_a_code_and_the_worker_carries_on(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    fixture: str,
    code: str,
) -> None:
    name, key = tenant
    client = service.client(key)
    bad = upload(service_env, name, getattr(media, fixture), name=f"lib/bad-{fixture}.mp4")
    good = upload(service_env, name, media.speech_wav)
    failed = client.wait(client.submit(source_uri=bad, target_lang="en")["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == code
    # The message names the source as the job gave it, not the worker's cached copy.
    assert bad in failed["error"]["message"]
    assert (
        sha256(getattr(media, fixture).read_bytes()).hexdigest() not in failed["error"]["message"]
    )
    assert (
        client.wait(client.submit(source_uri=good, target_lang="en")["id"])["status"] == "succeeded"
    )


def test_a_missing_source_fails_with_source_not_found(
    service: Service, tenant: tuple[str, str]
) -> None:
    name, key = tenant
    client = service.client(key)
    done = client.wait(
        client.submit(source_uri=f"s3://media/{name}/nothing-here.mp3", target_lang="en")["id"]
    )
    assert done["status"] == "failed"
    assert done["error"]["code"] == "source_not_found"


def test_a_silent_source_succeeds_with_nothing_billed(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.silence_wav)
    service_env.emulator.reset()
    done = client.wait(
        client.submit(source_uri=source, target_lang="en", outputs=["text", "srt", "wav"])["id"]
    )
    assert done["status"] == "succeeded", done
    assert done["usage"]["requests"] == 0
    assert service_env.emulator.ledger() == []
    manifest = json.loads(
        httpx.get(next(o["url"] for o in done["outputs"] if o["kind"] == "manifest")).content
    )
    assert manifest["outcome"] == "no_speech"
