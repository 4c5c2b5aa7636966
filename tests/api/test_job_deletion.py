"""DELETE /v1/jobs/{id} and retention_days on requests: who may delete what, when, and
what GET shows afterwards. The deletion itself runs as the worker runs it, on the same
database transaction as the API, over the embedded object store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ltb.db.models import Job, WebhookEvent
from ltb.pricing import load_price_book
from ltb.queue import make_celery
from ltb.settings import Settings
from ltb.storage import LocalStore
from pipeline.provider import ProviderClient, Timeouts
from pipeline.ratelimit import LocalRateLimiter
from pipeline.translate import RetryPolicy
from worker.context import WorkerContext
from worker.retention import purge_job

from support.factories import JobFactory, UsageRecordFactory, tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _worker(settings: Settings, db: Session) -> WorkerContext:
    """A worker's context on the test's own transaction and object folder."""
    return WorkerContext(
        settings=settings,
        sessions=sessionmaker(
            bind=db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
        ),
        store=LocalStore(settings.storage_root),
        queue=make_celery(settings),
        prices=load_price_book(None),
        client=ProviderClient(
            base_url="http://127.0.0.1:9/v1",
            api_key="unused",
            model=settings.model,
            timeouts=Timeouts(connect_s=1.0),
        ),
        limiter=LocalRateLimiter(rpm=100, tpm=100_000),
        policy=RetryPolicy(max_attempts=1),
        owner="test-worker",
    )


def _succeeded(tenant: Any, settings: Settings, **fields: Any) -> tuple[Job, list[Path]]:
    job_id = uuid.uuid4()
    job = JobFactory(
        id=job_id,
        tenant_id=tenant.id,
        source_uri=f"s3://media/{tenant.name}/talk.mp4",
        output_prefix=f"s3://ltb-outputs/{tenant.name}/{job_id}/",
        status="succeeded",
        finished_at=datetime.now(UTC) - timedelta(hours=1),
        **fields,
    )
    UsageRecordFactory(tenant_id=tenant.id, job_id=job.id, cost=Decimal("0.005"))
    files = []
    for name in ("translation.txt", "subtitles.srt", "manifest.json"):
        path = settings.storage_root / "ltb-outputs" / tenant.name / str(job_id) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
        files.append(path)
    return job, files


def _usage(client: TestClient, key: str) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    response = client.get(
        "/v1/usage",
        params={
            "from": (today - timedelta(days=2)).isoformat(),
            "to": (today + timedelta(days=2)).isoformat(),
            "group_by": "day",
        },
        headers=auth(key),
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["rows"]
    return rows


def test_a_deleted_job_keeps_its_row_and_usage_and_shows_no_outputs(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")
    job, files = _succeeded(tenant, settings, callback_url="https://hooks.example.com/ltb")
    _, kept_files = _succeeded(tenant, settings)
    assert len(client.get(f"/v1/jobs/{job.id}", headers=auth(key)).json()["outputs"]) == 3
    usage_before = _usage(client, key)

    response = client.delete(f"/v1/jobs/{job.id}", headers=auth(key))

    assert response.status_code == 202, response.text
    deleted = response.json()
    assert deleted["deleted_at"] is not None and deleted["outputs"] == []
    assert deleted["status"] == "succeeded" and deleted["usage"]["requests"] == 1

    assert purge_job(_worker(settings, db), job.id) is True
    assert not any(path.exists() for path in files)
    assert all(path.exists() for path in kept_files)
    db.expire_all()  # the worker wrote through its own session
    after = client.get(f"/v1/jobs/{job.id}", headers=auth(key)).json()
    assert after["outputs_expired_at"] is not None and after["outputs"] == []
    assert after["deleted_at"] == deleted["deleted_at"]
    assert _usage(client, key) == usage_before
    events = db.scalars(select(WebhookEvent.event).where(WebhookEvent.subject_id == job.id))
    assert list(events) == ["job.deleted"]

    # Deleting again answers the same; a deleted job cannot be retried.
    again = client.delete(f"/v1/jobs/{job.id}", headers=auth(key))
    assert again.status_code == 202 and again.json()["deleted_at"] == deleted["deleted_at"]


@pytest.mark.parametrize("status", ["queued", "running"])
def test_a_job_still_running_cannot_be_deleted(
    client: TestClient, db: Session, status: str
) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")
    job = JobFactory(tenant_id=tenant.id, status=status)

    response = client.delete(f"/v1/jobs/{job.id}", headers=auth(key))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_finished"
    db.expire_all()
    assert db.get_one(Job, job.id).deleted_at is None


def test_another_tenant_s_job_does_not_exist(client: TestClient, db: Session) -> None:
    _, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")
    other, _ = tenant_with_key(name=f"globex-{uuid.uuid4().hex[:6]}")
    theirs = JobFactory(tenant_id=other.id, status="succeeded")

    response = client.delete(f"/v1/jobs/{theirs.id}", headers=auth(key))

    assert response.status_code == 404
    db.expire_all()
    assert db.get_one(Job, theirs.id).deleted_at is None


def test_outputs_outside_the_tenant_s_write_grants_are_not_its_to_delete(
    client: TestClient, db: Session
) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")
    # Written while a grant allowed it; the grant has since been taken away.
    job = JobFactory(
        tenant_id=tenant.id, status="succeeded", output_prefix="s3://deliveries/acme/out/"
    )

    response = client.delete(f"/v1/jobs/{job.id}", headers=auth(key))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "output_not_allowed"


def test_a_deleted_failed_job_cannot_be_retried(client: TestClient, db: Session) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")
    job = JobFactory(
        tenant_id=tenant.id,
        status="failed",
        error_code="provider_error",
        output_prefix=f"s3://ltb-outputs/{tenant.name}/out/",
    )
    assert client.delete(f"/v1/jobs/{job.id}", headers=auth(key)).status_code == 202

    response = client.post(f"/v1/jobs/{job.id}/retry", headers=auth(key))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_deleted"


def test_a_job_may_shorten_its_tenant_s_retention_but_not_lengthen_it(
    client: TestClient, db: Session
) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}", retention_days=30)
    source = {"source_uri": f"s3://media/{tenant.name}/talk.mp4", "target_lang": "en"}

    longer = client.post("/v1/jobs", json={**source, "retention_days": 31}, headers=auth(key))
    assert longer.status_code == 422
    assert longer.json()["error"]["code"] == "retention_too_long"

    shorter = client.post("/v1/jobs", json={**source, "retention_days": 7}, headers=auth(key))
    assert shorter.status_code == 202, shorter.text
    assert shorter.json()["retention_days"] == 7 and shorter.json()["expires_at"] is None

    default = client.post("/v1/jobs", json=source, headers=auth(key))
    assert default.json()["retention_days"] == 30

    batch = {"sources": [source["source_uri"]], "target_langs": ["en"]}
    refused = client.post("/v1/batches", json={**batch, "retention_days": 90}, headers=auth(key))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "retention_too_long"
    accepted = client.post("/v1/batches", json={**batch, "retention_days": 3}, headers=auth(key))
    assert accepted.status_code == 202, accepted.text
    jobs = db.scalars(select(Job).where(Job.batch_id == uuid.UUID(accepted.json()["id"]))).all()
    assert [job.retention_days for job in jobs] == [3]


def test_a_finished_job_shows_when_its_outputs_expire(client: TestClient, db: Session) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}", retention_days=30)
    finished = datetime(2026, 11, 1, 12, tzinfo=UTC)
    job = JobFactory(
        tenant_id=tenant.id, status="succeeded", finished_at=finished, retention_days=10
    )

    view = client.get(f"/v1/jobs/{job.id}", headers=auth(key)).json()

    assert view["retention_days"] == 10
    assert datetime.fromisoformat(view["expires_at"]) == finished + timedelta(days=10)
    assert view["deleted_at"] is None and view["outputs_expired_at"] is None


def test_without_a_retention_period_any_job_period_is_accepted(
    client: TestClient, db: Session
) -> None:
    tenant, key = tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")
    source = {"source_uri": f"s3://media/{tenant.name}/talk.mp4", "target_lang": "en"}

    response = client.post("/v1/jobs", json={**source, "retention_days": 365}, headers=auth(key))

    assert response.status_code == 202 and response.json()["retention_days"] == 365
    assert client.post("/v1/jobs", json=source, headers=auth(key)).json()["retention_days"] is None
