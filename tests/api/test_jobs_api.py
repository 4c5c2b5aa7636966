"""POST/GET /v1/jobs, cancel and retry: validation, idempotency, tenancy, state rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.app import create_app
from ltb.db.models import Chunk, Job
from ltb.settings import Settings

from support.factories import JobFactory, tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_key(db: Session) -> tuple[object, str]:
    return tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")


def body(tenant, **extra) -> dict:
    return {"source_uri": f"s3://media/{tenant.name}/talk.mp4", "target_lang": "en", **extra}


def test_submit_records_a_queued_job_and_returns_202(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    response = client.post(
        "/v1/jobs", json=body(tenant, labels={"customer": "globex"}), headers=auth(key)
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["stage"] is None
    assert job["progress"] == {"chunks_done": 0, "chunks_total": 0, "percent": 0.0}
    assert job["labels"] == {"customer": "globex"}
    assert job["requested_outputs"] == ["text", "srt"] and job["outputs"] == []
    assert job["usage"]["total_tokens"] == 0 and job["error"] is None
    row = db.get(Job, uuid.UUID(job["id"]))
    assert row is not None and row.tenant_id == tenant.id
    assert row.output_prefix == f"s3://ltb-outputs/{tenant.name}/{row.id}/"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer ltb_nope"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_unknown_keys_get_401(client: TestClient, tenant_key, headers) -> None:
    tenant, _ = tenant_key
    response = client.post("/v1/jobs", json=body(tenant), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_idempotency_key_replays_the_same_job_and_refuses_a_different_body(
    client: TestClient, tenant_key
) -> None:
    tenant, key = tenant_key
    headers = {**auth(key), "Idempotency-Key": "upload-42"}
    first = client.post("/v1/jobs", json=body(tenant), headers=headers)
    again = client.post("/v1/jobs", json=body(tenant), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/jobs", json=body(tenant, target_lang="de"), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_the_same_idempotency_key_belongs_to_each_tenant_separately(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    other, other_key = tenant_with_key(name=f"globex-{uuid.uuid4().hex[:6]}")
    a = client.post("/v1/jobs", json=body(tenant), headers={**auth(key), "Idempotency-Key": "k"})
    b = client.post(
        "/v1/jobs", json=body(other), headers={**auth(other_key), "Idempotency-Key": "k"}
    )
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]


@pytest.mark.parametrize(
    ("extra", "status", "code"),
    [
        ({"source_uri": "s3://media/someone-else/x.mp4"}, 403, "source_not_allowed"),
        ({"source_uri": "https://example.com/x.mp4"}, 400, "invalid_source_uri"),
        ({"target_lang": "xx"}, 422, "unknown_language"),
        ({"source_lang": "klingon"}, 422, "unknown_language"),
        ({"target_lang": "th", "outputs": ["text", "wav"]}, 422, "audio_output_unsupported"),
        ({"target_lang": "en", "outputs": ["wav"], "voice": "Kiki"}, 422, "voice_unsupported"),
        ({"target_lang": "en", "outputs": ["wav"], "voice": "Bob"}, 422, "unknown_voice"),
        ({"outputs": ["text", "transcript"]}, 422, "output_needs_realtime_engine"),
        ({"outputs": ["bilingual_srt"]}, 422, "output_needs_realtime_engine"),
        ({"engine": "realtime"}, 422, "source_lang_required"),
        (
            {"engine": "realtime", "source_lang": "en", "outputs": ["transcript"]},
            422,
            "engine_unavailable",
        ),
        ({"engine": "warp"}, 422, "invalid_request"),
        ({"outputs": ["pdf"]}, 422, "invalid_request"),
        ({"visual_context": "maybe"}, 422, "invalid_request"),
        ({"budget": {"max_cost": -1}}, 422, "invalid_request"),
        ({"output_prefix": "s3://someone-elses-bucket/out/"}, 403, "output_not_allowed"),
        ({"surprise": True}, 422, "invalid_request"),
    ],
)
def test_bad_requests_are_refused_with_a_status_and_code(
    client: TestClient, db: Session, tenant_key, extra, status, code
) -> None:
    tenant, key = tenant_key
    response = client.post("/v1/jobs", json=body(tenant, **extra), headers=auth(key))
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert db.query(Job).filter(Job.tenant_id == tenant.id).count() == 0


def test_another_tenants_job_does_not_exist(client: TestClient, tenant_key) -> None:
    tenant, key = tenant_key
    _, other_key = tenant_with_key(name=f"initech-{uuid.uuid4().hex[:6]}")
    job_id = client.post("/v1/jobs", json=body(tenant), headers=auth(key)).json()["id"]
    for method, path in [
        ("get", f"/v1/jobs/{job_id}"),
        ("post", f"/v1/jobs/{job_id}/cancel"),
        ("post", f"/v1/jobs/{job_id}/retry"),
    ]:
        response = getattr(client, method)(path, headers=auth(other_key))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert client.get("/v1/jobs", headers=auth(other_key)).json()["jobs"] == []


def test_cancel_stops_unstarted_chunks_and_ends_the_job_cancelled(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = JobFactory(tenant_id=tenant.id, status="running", stage="translating", chunks_total=2)
    db.add_all(
        [
            Chunk(tenant_id=tenant.id, job_id=job.id, idx=0, start_s=0, end_s=5, status="running"),
            Chunk(tenant_id=tenant.id, job_id=job.id, idx=1, start_s=5, end_s=9, status="pending"),
        ]
    )
    db.flush()
    response = client.post(f"/v1/jobs/{job.id}/cancel", headers=auth(key))
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["finished_at"]
    statuses = {c.idx: c.status for c in db.query(Chunk).filter(Chunk.job_id == job.id)}
    assert statuses == {0: "running", 1: "cancelled"}  # the one in flight finishes and is recorded
    again = client.post(f"/v1/jobs/{job.id}/cancel", headers=auth(key))
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_cancellable"


def test_retry_reopens_only_unfinished_chunks_of_a_failed_job(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = JobFactory(
        tenant_id=tenant.id,
        status="failed",
        error_code="provider_rejected",
        error_message="x",
        chunks_total=3,
        chunks_done=1,
    )
    db.add_all(
        [
            Chunk(
                tenant_id=tenant.id,
                job_id=job.id,
                idx=0,
                start_s=0,
                end_s=5,
                status="done",
                result_text="hi",
            ),
            Chunk(
                tenant_id=tenant.id,
                job_id=job.id,
                idx=1,
                start_s=5,
                end_s=9,
                status="failed",
                error_code="provider_rejected",
            ),
            Chunk(
                tenant_id=tenant.id, job_id=job.id, idx=2, start_s=9, end_s=12, status="cancelled"
            ),
        ]
    )
    db.flush()
    response = client.post(f"/v1/jobs/{job.id}/retry", headers=auth(key))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued" and response.json()["error"] is None
    statuses = {c.idx: c.status for c in db.query(Chunk).filter(Chunk.job_id == job.id)}
    assert statuses == {0: "done", 1: "pending", 2: "pending"}
    not_failed = JobFactory(tenant_id=tenant.id, status="succeeded")
    refused = client.post(f"/v1/jobs/{not_failed.id}/retry", headers=auth(key))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_retryable"


def test_a_retried_job_gets_a_fresh_budget_of_plan_and_finalize_attempts(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = JobFactory(
        tenant_id=tenant.id,
        status="failed",
        error_code="plan_abandoned",
        error_message="x",
        plan_attempts=5,
        finalize_attempts=2,
    )
    db.flush()

    response = client.post(f"/v1/jobs/{job.id}/retry", headers=auth(key))

    assert response.status_code == 202, response.text
    db.refresh(job)
    assert (job.status, job.plan_attempts, job.finalize_attempts) == ("queued", 0, 0)


def test_listing_filters_and_pages_newest_first(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(7):
        JobFactory(
            tenant_id=tenant.id,
            created_at=start + timedelta(hours=i),
            target_lang="de" if i % 2 else "en",
            labels={"customer": "a" if i < 4 else "b"},
            status="succeeded" if i < 5 else "failed",
        )
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/jobs", params=params, headers=auth(key)).json()
        seen += page["jobs"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len({j["id"] for j in seen}) == 7
    created = [j["created_at"] for j in seen]
    assert created == sorted(created, reverse=True)
    filtered = client.get(
        "/v1/jobs", params={"target": "de", "label": "customer:a"}, headers=auth(key)
    ).json()["jobs"]
    assert len(filtered) == 2
    assert (
        len(client.get("/v1/jobs", params={"status": "failed"}, headers=auth(key)).json()["jobs"])
        == 2
    )
    window = {
        "created_from": (start + timedelta(hours=2)).isoformat(),
        "created_to": (start + timedelta(hours=4)).isoformat(),
    }
    assert len(client.get("/v1/jobs", params=window, headers=auth(key)).json()["jobs"]) == 2
    bad = client.get("/v1/jobs", params={"cursor": "garbage!"}, headers=auth(key))
    assert bad.status_code == 422


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}
    assert client.get("/docs").status_code == 200


def test_retry_leaves_a_chunk_with_a_live_lease_to_its_worker(
    client: TestClient, db: Session, tenant_key
) -> None:
    """A running chunk whose lease is live is still being paid for by its worker: a retry
    that reopened it would send the same request to the provider a second time."""
    tenant, key = tenant_key
    job = JobFactory(tenant_id=tenant.id, status="failed", error_code="x", chunks_total=2)
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
    response = client.post(f"/v1/jobs/{job.id}/retry", headers=auth(key))
    assert response.status_code == 202, response.text
    chunks = {c.idx: c for c in db.scalars(select(Chunk).where(Chunk.job_id == job.id))}
    db.refresh(chunks[0])
    db.refresh(chunks[1])
    assert (chunks[0].status, chunks[0].lease_owner) == ("running", "worker-a")
    assert (chunks[1].status, chunks[1].lease_owner) == ("pending", None)


def test_a_job_refused_for_its_budget_cannot_be_queued_again(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = JobFactory(
        tenant_id=tenant.id,
        status="failed",
        error_code="budget_exceeded",
        error_message="x",
        budget_max_input_tokens=100,
        est_input_tokens=5_000,
        chunks_total=1,
    )
    db.add(Chunk(tenant_id=tenant.id, job_id=job.id, idx=0, start_s=0, end_s=5, status="cancelled"))
    db.flush()
    response = client.post(f"/v1/jobs/{job.id}/retry", headers=auth(key))
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "budget_exceeded"
    db.refresh(job)
    assert job.status == "failed"
    assert db.scalars(select(Chunk.status).where(Chunk.job_id == job.id)).all() == ["cancelled"]


def test_readiness_names_a_missing_bucket(settings: Settings) -> None:
    absent = settings.model_dump() | {"output_bucket": "absent-outputs", "work_prefix": ""}
    with TestClient(create_app(Settings(_env_file=None, **absent))) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    storage = ready.json()["checks"]["storage"]
    assert storage.startswith("error: output_bucket_missing") and "s3://absent-outputs" in storage
