"""The deliverables through the API: the dubbed video and the mix are output kinds like
any other, dub_mix and duck_db are checked and kept on the job, and a video asked of a
source whose name says it is sound only is refused at submission."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Job
from ltb.outputs import OUTPUTS

from support.factories import tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_key(db: Session) -> tuple[object, str]:
    return tenant_with_key(name=f"dub-{uuid.uuid4().hex[:6]}")


def job_body(tenant, name: str = "film.mp4", **extra) -> dict:
    return {"source_uri": f"s3://media/{tenant.name}/{name}", "target_lang": "en", **extra}


def test_the_new_kinds_and_the_mix_are_accepted_and_kept_on_the_job(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs",
        json=job_body(
            tenant,
            outputs=["mkv", "ttml", "mp4", "mix_wav"],
            dub_mix="voiceover",
            duck_db=-22.5,
        ),
        headers=auth(key),
    )
    assert response.status_code == 202, response.text
    job = response.json()
    # Canonical order is the registry's.
    assert job["requested_outputs"] == ["ttml", "mix_wav", "mp4", "mkv"]
    row = db.get(Job, uuid.UUID(job["id"]))
    assert row is not None
    assert (row.dub_mix, row.duck_db) == ("voiceover", -22.5)
    assert row.voice == "Cherry", "spoken kinds need a voice"


def test_the_mix_defaults_to_replace_with_a_15_db_duck(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    response = client.post("/v1/jobs", json=job_body(tenant, outputs=["mp4"]), headers=auth(key))
    assert response.status_code == 202, response.text
    row = db.get(Job, uuid.UUID(response.json()["id"]))
    assert row is not None and (row.dub_mix, row.duck_db) == ("replace", -15.0)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"dub_mix": "karaoke"}, "invalid_request"),
        ({"duck_db": -40.5}, "invalid_request"),
        ({"duck_db": 0.5}, "invalid_request"),
        ({"duck_db": "loud"}, "invalid_request"),
        ({"target_lang": "th", "outputs": ["mp4"]}, "audio_output_unsupported"),
        ({"target_lang": "th", "outputs": ["mix_wav"]}, "audio_output_unsupported"),
    ],
)
def test_bad_mix_fields_are_refused(
    client: TestClient, db: Session, tenant_key, extra: dict, code: str
) -> None:
    tenant, key = tenant_key
    body = {**job_body(tenant, outputs=["mp4"]), **extra}
    response = client.post("/v1/jobs", json=body, headers=auth(key))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert db.query(Job).filter(Job.tenant_id == tenant.id).count() == 0


@pytest.mark.parametrize(
    "name", ["talk.wav", "talk.MP3", "a/b/talk.m4a", "x.aac", "x.flac", "x.ogg", "x.opus"]
)
@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_a_video_of_a_sound_only_source_is_refused_at_submission(
    client: TestClient, db: Session, tenant_key, name: str, kind: str
) -> None:
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs", json=job_body(tenant, name, outputs=["srt", kind]), headers=auth(key)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "video_output_needs_video"
    assert db.query(Job).filter(Job.tenant_id == tenant.id).count() == 0


def test_sound_only_sources_may_still_ask_for_the_mix_and_ttml(
    client: TestClient, tenant_key
) -> None:
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs",
        json=job_body(tenant, "talk.wav", outputs=["ttml", "mix_wav"], dub_mix="voiceover"),
        headers=auth(key),
    )
    assert response.status_code == 202, response.text


def test_a_batch_carries_the_mix_to_its_jobs_and_refuses_sound_only_sources_for_video(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    base = {
        "sources": [f"s3://media/{tenant.name}/a.mp4", f"s3://media/{tenant.name}/b.mov"],
        "target_langs": ["en", "zh"],
        "outputs": ["mp4", "srt"],
        "dub_mix": "voiceover",
        "duck_db": -18,
    }
    response = client.post("/v1/batches", json=base, headers=auth(key))
    assert response.status_code == 202, response.text
    jobs = db.scalars(select(Job).where(Job.batch_id == uuid.UUID(response.json()["id"]))).all()
    assert len(jobs) == 4
    assert {(job.dub_mix, job.duck_db) for job in jobs} == {("voiceover", -18.0)}

    sound = {
        **base,
        "sources": [f"s3://media/{tenant.name}/a.mp4", f"s3://media/{tenant.name}/c.mp3"],
    }
    refused = client.post("/v1/batches", json=sound, headers=auth(key))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "video_output_needs_video"
    bad = client.post("/v1/batches", json={**base, "duck_db": -60}, headers=auth(key))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    assert (
        db.scalar(
            select(Batch).where(
                Batch.tenant_id == tenant.id, Batch.id != uuid.UUID(response.json()["id"])
            )
        )
        is None
    )


def test_the_openapi_document_lists_every_registered_kind(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    kinds = [kind.value for kind in OUTPUTS]
    assert schemas["OutputKind"]["enum"] == kinds
    assert schemas["OutputFileKind"]["enum"] == [*kinds, "manifest"]
    job_create = schemas["JobCreate"]["properties"]
    assert job_create["duck_db"]["minimum"] == -40 and job_create["duck_db"]["maximum"] == 0
    assert "dub_mix" in job_create and "dub_mix" in schemas["BatchCreate"]["properties"]
