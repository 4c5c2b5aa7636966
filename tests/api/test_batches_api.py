"""POST/GET /v1/batches, cancel and retry-failed; callback URL refusals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Chunk, Job, WebhookEvent
from ltb.settings import Settings

from support.factories import tenant_with_key


@pytest.fixture
def tenant_key(db: Session):
    return tenant_with_key(name=f"lib-{uuid.uuid4().hex[:6]}")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def library(settings: Settings, tenant_name: str, names: list[str]) -> str:
    """Files in the embedded store under s3://media/<tenant>/library/."""
    folder: Path = settings.storage_root / "media" / tenant_name / "library"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not really media, but the API does not open it")
    return f"s3://media/{tenant_name}/library/"


def test_a_prefix_batch_makes_one_job_per_media_file_and_target(
    client: TestClient, db: Session, settings: Settings, tenant_key
) -> None:
    tenant, key = tenant_key
    prefix = library(
        settings, tenant.name, ["a.mp4", "b.MP3", "sub/c.wav", "notes.txt", "cover.jpg"]
    )
    response = client.post(
        "/v1/batches",
        json={
            "source_prefix": prefix,
            "target_langs": ["en", "de", "ja"],
            "labels": {"customer": "acme"},
        },
        headers=auth(key),
    )
    assert response.status_code == 202, response.text
    batch = response.json()
    assert batch["jobs_total"] == 9 and batch["status"] == "open"
    assert batch["counts"]["queued"] == 9
    assert set(batch["by_target"]) == {"en", "de", "ja"}
    jobs = db.scalars(select(Job).where(Job.batch_id == uuid.UUID(batch["id"]))).all()
    assert sorted({j.source_uri.rsplit("/", 1)[-1] for j in jobs}) == ["a.mp4", "b.MP3", "c.wav"]
    assert all(j.labels == {"customer": "acme"} and j.status == "queued" for j in jobs)
    assert len({j.output_prefix for j in jobs}) == 9


def test_explicit_sources_voices_per_target_and_idempotency(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    body = {
        "sources": [f"s3://media/{tenant.name}/a.mp4", f"s3://media/{tenant.name}/b.mp4"],
        "target_langs": ["zh", "yue"],
        "outputs": ["text", "wav"],
        "voices": {"zh": "Dylan", "yue": "Kiki"},
    }
    headers = {**auth(key), "Idempotency-Key": "library-1"}
    first = client.post("/v1/batches", json=body, headers=headers)
    again = client.post("/v1/batches", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert (
        first.json()["id"] == again.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    )
    voices = {
        (j.target_lang, j.voice)
        for j in db.scalars(select(Job).where(Job.batch_id == uuid.UUID(first.json()["id"])))
    }
    assert voices == {("zh", "Dylan"), ("yue", "Kiki")}
    other = client.post(
        "/v1/batches",
        json={**body, "target_langs": ["zh"], "voices": {"zh": "Dylan"}},
        headers=headers,
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"sources": ["s3://media/elsewhere/a.mp4"], "target_langs": ["en"]},
            403,
            "source_not_allowed",
        ),
        (
            {"source_prefix": "s3://media/elsewhere/", "target_langs": ["en"]},
            403,
            "source_not_allowed",
        ),
        ({"target_langs": ["en"]}, 422, "invalid_request"),
        (
            {"sources": ["s3://media/{t}/a.mp4"], "target_langs": ["en", "th"], "outputs": ["wav"]},
            422,
            "audio_output_unsupported",
        ),
        ({"sources": ["s3://media/{t}/a.mp4"], "target_langs": ["xx"]}, 422, "unknown_language"),
        (
            {"sources": ["s3://media/{t}/a.mp4"], "target_langs": ["en"], "engine": "realtime"},
            422,
            "source_lang_required",
        ),
        (
            {
                "sources": ["s3://media/{t}/a.mp4"],
                "target_langs": ["en"],
                "outputs": ["transcript"],
            },
            422,
            "output_needs_realtime_engine",
        ),
        (
            {
                "sources": ["s3://media/{t}/a.mp4"],
                "target_langs": ["en"],
                "callback_url": "http://127.0.0.1:9/hook",
            },
            422,
            "callback_url_not_allowed",
        ),
        (
            {
                "sources": ["s3://media/{t}/a.mp4"],
                "target_langs": ["en"],
                "callback_url": "http://169.254.169.254/latest",
            },
            422,
            "callback_url_not_allowed",
        ),
        (
            {
                "sources": ["s3://media/{t}/a.mp4"],
                "target_langs": ["en"],
                "callback_url": "ftp://example.com/x",
            },
            422,
            "invalid_callback_url",
        ),
        # A host IDNA cannot encode: refused, not a 500 (found by Schemathesis).
        (
            {
                "sources": ["s3://media/{t}/a.mp4"],
                "target_langs": ["en"],
                "callback_url": "http://\u010c\u023a\u00870:3903/hook",
            },
            422,
            "invalid_callback_url",
        ),
        # Brackets that hold no IPv6 address: refused, not a 500 (found by Schemathesis).
        (
            {
                "sources": ["s3://media/{t}/a.mp4"],
                "target_langs": ["en"],
                "callback_url": "http://[0]/hook",
            },
            422,
            "invalid_callback_url",
        ),
        ({"source_prefix": "s3://media/{t}/empty/", "target_langs": ["en"]}, 422, "no_sources"),
    ],
)
def test_bad_batches_are_refused(
    client: TestClient, db: Session, settings: Settings, tenant_key, body, status, code
) -> None:
    tenant, key = tenant_key
    (settings.storage_root / "media" / tenant.name / "empty").mkdir(parents=True, exist_ok=True)
    body = {
        k: (
            v.replace("{t}", tenant.name)
            if isinstance(v, str)
            else [x.replace("{t}", tenant.name) for x in v]
            if isinstance(v, list)
            else v
        )
        for k, v in body.items()
    }
    response = client.post("/v1/batches", json=body, headers=auth(key))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert db.scalar(select(Batch).where(Batch.tenant_id == tenant.id)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://[::1]/hook",
        "http://192.168.0.10/hook",
        "http://user:pw@example.com/x",
        # Private IPv4 addresses dressed as IPv6: NAT64, 6to4, local-use NAT64, compatible.
        "http://[64:ff9b::7f00:1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/latest",
        "http://[2002:7f00:1::1]/hook",
        "http://[2002:c0a8:a::]/hook",
        "http://[64:ff9b:1::a00:1]/hook",
        "http://[::127.0.0.1]/hook",
    ],
)
def test_job_callback_urls_inside_the_network_are_refused(
    client: TestClient, tenant_key, url: str
) -> None:
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs",
        json={
            "source_uri": f"s3://media/{tenant.name}/a.mp4",
            "target_lang": "en",
            "callback_url": url,
        },
        headers=auth(key),
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("callback_url_not_allowed", "invalid_callback_url")


@pytest.mark.parametrize("url", ["http://[64:ff9b::808:808]/hook", "https://[2002:808:808::1]/x"])
def test_callback_urls_embedding_public_ipv4_addresses_are_accepted(
    client: TestClient, tenant_key, url: str
) -> None:
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs",
        json={
            "source_uri": f"s3://media/{tenant.name}/a.mp4",
            "target_lang": "en",
            "callback_url": url,
        },
        headers=auth(key),
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "url", ["http://10.0.0.7/hook", "http://[fd00::7]/hook", "http://[::1]:9/hook"]
)
def test_private_callback_urls_are_accepted_when_configuration_allows_them(
    client: TestClient, settings: Settings, tenant_key, url: str
) -> None:
    # In-process with a broker that delivers nothing: a private address is never dialled.
    client.app.state.context.settings = settings.model_copy(update={"webhook_allow_private": True})
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs",
        json={
            "source_uri": f"s3://media/{tenant.name}/a.mp4",
            "target_lang": "en",
            "callback_url": url,
        },
        headers=auth(key),
    )
    assert response.status_code == 202, response.text


def test_too_many_jobs_is_refused(
    client: TestClient, settings: Settings, tenant_key, monkeypatch
) -> None:
    tenant, key = tenant_key
    client.app.state.context.settings = settings.model_copy(update={"max_batch_jobs": 3})
    body = {
        "sources": [f"s3://media/{tenant.name}/{i}.mp3" for i in range(2)],
        "target_langs": ["en", "de"],
    }
    response = client.post("/v1/batches", json=body, headers=auth(key))
    assert response.status_code == 422 and response.json()["error"]["code"] == "too_many_jobs"


def test_cancel_ends_every_unfinished_job_and_completes_the_batch(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    created = client.post(
        "/v1/batches",
        json={
            "sources": [f"s3://media/{tenant.name}/{n}.mp3" for n in "ab"],
            "target_langs": ["en", "fr"],
            "callback_url": "https://93.184.216.34/ltb",
        },
        headers=auth(key),
    ).json()
    batch_id = uuid.UUID(created["id"])
    one = db.scalars(select(Job).where(Job.batch_id == batch_id)).first()
    assert one is not None
    from ltb.lifecycle import finish_job

    finish_job(db, one, status="succeeded")
    response = client.post(f"/v1/batches/{batch_id}/cancel", headers=auth(key))
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["status"] == "cancelled" and view["completed_at"]
    assert view["counts"]["cancelled"] == 3 and view["counts"]["succeeded"] == 1
    events = sorted(
        e.event for e in db.scalars(select(WebhookEvent).where(WebhookEvent.tenant_id == tenant.id))
    )
    assert events == [
        "batch.completed",
        "job.cancelled",
        "job.cancelled",
        "job.cancelled",
        "job.succeeded",
    ]
    again = client.post(f"/v1/batches/{batch_id}/cancel", headers=auth(key))
    assert again.status_code == 409


def test_retry_failed_requeues_only_failed_jobs_and_reopens_the_batch(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    created = client.post(
        "/v1/batches",
        json={
            "sources": [f"s3://media/{tenant.name}/{n}.mp3" for n in "abc"],
            "target_langs": ["en"],
        },
        headers=auth(key),
    ).json()
    from ltb.lifecycle import finish_job

    jobs = db.scalars(
        select(Job).where(Job.batch_id == uuid.UUID(created["id"])).order_by(Job.source_uri)
    ).all()
    finish_job(db, jobs[0], status="succeeded")
    finish_job(db, jobs[1], status="failed", error=("provider_rejected", "moderation"))
    finish_job(db, jobs[2], status="failed", error=("unsupported_media", "not media"))
    view = client.get(f"/v1/batches/{created['id']}", headers=auth(key)).json()
    assert view["status"] == "completed"
    assert view["failure_codes"] == {"provider_rejected": 1, "unsupported_media": 1}
    assert {f["code"] for f in view["failures"]} == {"provider_rejected", "unsupported_media"}
    retried = client.post(f"/v1/batches/{created['id']}/retry-failed", headers=auth(key))
    assert retried.status_code == 202
    view = retried.json()
    assert (
        view["status"] == "open"
        and view["counts"]["queued"] == 2
        and view["counts"]["succeeded"] == 1
    )
    assert view["progress"]["jobs_finished"] == 1


def test_another_tenants_batch_does_not_exist(client: TestClient, tenant_key) -> None:
    tenant, key = tenant_key
    _, other_key = tenant_with_key(name=f"other-{uuid.uuid4().hex[:6]}")
    created = client.post(
        "/v1/batches",
        json={"sources": [f"s3://media/{tenant.name}/a.mp3"], "target_langs": ["en"]},
        headers=auth(key),
    ).json()
    assert client.get(f"/v1/batches/{created['id']}", headers=auth(other_key)).status_code == 404
    assert (
        client.post(f"/v1/batches/{created['id']}/cancel", headers=auth(other_key)).status_code
        == 404
    )


def test_retry_failed_leaves_a_chunk_with_a_live_lease_to_its_worker(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    created = client.post(
        "/v1/batches",
        json={"sources": [f"s3://media/{tenant.name}/a.mp3"], "target_langs": ["en"]},
        headers=auth(key),
    ).json()
    from ltb.lifecycle import finish_job

    job = db.scalars(select(Job).where(Job.batch_id == uuid.UUID(created["id"]))).one()
    finish_job(db, job, status="failed", error=("provider_rejected", "moderation"))
    now = datetime.now(UTC)
    db.add_all(
        [
            Chunk(
                tenant_id=tenant.id,
                job_id=job.id,
                idx=0,
                start_s=0,
                end_s=5,
                status="running",
                lease_owner="worker-a",
                lease_until=now + timedelta(minutes=10),
            ),
            Chunk(
                tenant_id=tenant.id,
                job_id=job.id,
                idx=1,
                start_s=5,
                end_s=9,
                status="running",
                lease_owner="worker-dead",
                lease_until=now - timedelta(seconds=1),
            ),
        ]
    )
    db.flush()
    retried = client.post(f"/v1/batches/{created['id']}/retry-failed", headers=auth(key))
    assert retried.status_code == 202, retried.text
    chunks = {c.idx: c for c in db.scalars(select(Chunk).where(Chunk.job_id == job.id))}
    for chunk in chunks.values():
        db.refresh(chunk)
    assert (chunks[0].status, chunks[0].lease_owner) == ("running", "worker-a")
    assert (chunks[1].status, chunks[1].lease_owner) == ("pending", None)


def test_retry_failed_leaves_jobs_over_their_budget_failed(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    created = client.post(
        "/v1/batches",
        json={
            "sources": [f"s3://media/{tenant.name}/{n}.mp3" for n in "ab"],
            "target_langs": ["en"],
            "budget": {"max_cost": "0.5"},
        },
        headers=auth(key),
    ).json()
    from ltb.lifecycle import finish_job

    over, within = db.scalars(
        select(Job).where(Job.batch_id == uuid.UUID(created["id"])).order_by(Job.source_uri)
    ).all()
    over.est_cost, within.est_cost = Decimal("2.0"), Decimal("0.1")
    finish_job(db, over, status="failed", error=("budget_exceeded", "over"))
    finish_job(db, within, status="failed", error=("provider_rejected", "moderation"))
    retried = client.post(f"/v1/batches/{created['id']}/retry-failed", headers=auth(key))
    assert retried.status_code == 202
    counts = retried.json()["counts"]
    assert (counts["failed"], counts["queued"]) == (1, 1)
    assert retried.json()["progress"]["jobs_finished"] == 1
    db.refresh(over)
    assert over.status == "failed" and over.error_code == "budget_exceeded"
