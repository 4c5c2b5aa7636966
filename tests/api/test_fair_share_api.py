"""Fair sharing at the API: the tenant's monthly token budget refuses new work, jobs and
batches carry a priority, and GET shows `eta_s` from the work ahead in the tenant's line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, Job, Tenant
from ltb.fair_share import next_month_start

from support.factories import JobFactory, UsageRecordFactory, tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_key(db: Session) -> tuple[Tenant, str]:
    return tenant_with_key(name=f"fair-{uuid.uuid4().hex[:6]}")


def job_body(tenant: Tenant, **extra: object) -> dict[str, object]:
    return {"source_uri": f"s3://media/{tenant.name}/talk.mp4", "target_lang": "en", **extra}


def _book(db: Session, tenant: Tenant, tokens: int, *, at: datetime) -> None:
    job = JobFactory(tenant_id=tenant.id, status="succeeded")
    UsageRecordFactory(
        tenant_id=tenant.id, job_id=job.id, input_audio=tokens, output_text=0, created_at=at
    )


def test_new_jobs_and_batches_are_refused_once_the_months_booked_tokens_reach_the_budget(
    client: TestClient, db: Session, tenant_key: tuple[Tenant, str]
) -> None:
    tenant, key = tenant_key
    tenant.monthly_token_budget = 1000
    now = datetime.now(UTC)
    _book(db, tenant, 5000, at=now.replace(day=1) - timedelta(days=1))  # last month: free
    _book(db, tenant, 999, at=now)
    db.flush()
    assert client.post("/v1/jobs", json=job_body(tenant), headers=auth(key)).status_code == 202

    _book(db, tenant, 1, at=now)
    db.flush()
    refused = client.post("/v1/jobs", json=job_body(tenant), headers=auth(key))
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "tenant_budget_exhausted"
    assert "1,000" in refused.json()["error"]["message"]
    wait_s = int(refused.headers["Retry-After"])
    assert 0 < wait_s <= (next_month_start(now) - now).total_seconds() + 1
    batch = client.post(
        "/v1/batches",
        json={"sources": [f"s3://media/{tenant.name}/a.mp4"], "target_langs": ["en"]},
        headers=auth(key),
    )
    assert batch.status_code == 429 and batch.json()["error"]["code"] == "tenant_budget_exhausted"


def test_a_tenant_without_a_budget_is_never_refused_for_tokens(
    client: TestClient, db: Session, tenant_key: tuple[Tenant, str]
) -> None:
    tenant, key = tenant_key
    _book(db, tenant, 10**9, at=datetime.now(UTC))
    db.flush()
    assert client.post("/v1/jobs", json=job_body(tenant), headers=auth(key)).status_code == 202


def test_priority_is_stored_and_shown_normal_by_default_and_checked(
    client: TestClient, db: Session, tenant_key: tuple[Tenant, str]
) -> None:
    tenant, key = tenant_key
    plain = client.post("/v1/jobs", json=job_body(tenant), headers=auth(key)).json()
    urgent = client.post(
        "/v1/jobs", json=job_body(tenant, priority="high"), headers=auth(key)
    ).json()
    assert plain["priority"] == "normal" and urgent["priority"] == "high"
    assert db.get(Job, uuid.UUID(urgent["id"])).priority == "high"  # type: ignore[union-attr]
    bad = client.post("/v1/jobs", json=job_body(tenant, priority="urgent"), headers=auth(key))
    assert bad.status_code == 422

    batch = client.post(
        "/v1/batches",
        json={
            "sources": [f"s3://media/{tenant.name}/a.mp4", f"s3://media/{tenant.name}/b.mp4"],
            "target_langs": ["en"],
            "priority": "low",
        },
        headers=auth(key),
    ).json()
    assert batch["priority"] == "low"
    rows = db.query(Job).filter(Job.batch_id == uuid.UUID(batch["id"])).all()
    assert [row.priority for row in rows] == ["low", "low"]


def _planned(db: Session, tenant: Tenant, chunks: int, **fields: object) -> Job:
    job: Job = JobFactory(
        tenant_id=tenant.id, status="running", stage="translating", chunks_total=chunks, **fields
    )
    for idx in range(chunks):
        db.add(
            Chunk(
                tenant_id=tenant.id,
                job_id=job.id,
                idx=idx,
                start_s=idx * 60.0,
                end_s=idx * 60.0 + 60,
                est_input_audio=1500,
                est_output_text=300,
            )
        )
    db.flush()
    return job


def _eta(client: TestClient, key: str, job: Job) -> float:
    shown = client.get(f"/v1/jobs/{job.id}", headers=auth(key)).json()
    assert shown["eta_s"] is not None
    return float(shown["eta_s"])


def test_eta_counts_the_work_ahead_in_the_tenants_line_and_falls_as_chunks_finish(
    client: TestClient, db: Session, tenant_key: tuple[Tenant, str]
) -> None:
    tenant, key = tenant_key
    earlier = _planned(db, tenant, 4, created_at=datetime.now(UTC) - timedelta(minutes=5))
    job = _planned(db, tenant, 4)
    urgent = _planned(db, tenant, 1, priority="high")

    alone = _eta(client, key, earlier)
    behind = _eta(client, key, job)
    assert 0 < _eta(client, key, urgent) < alone < behind  # high goes first, then by age

    etas = [behind]
    for idx in range(4):
        db.execute(
            update(Chunk).where(Chunk.job_id == job.id, Chunk.idx == idx).values(status="done")
        )
        db.flush()
        etas.append(_eta(client, key, job))
    assert etas == sorted(etas, reverse=True) and len(set(etas)) == len(etas)

    job.status = "succeeded"
    db.flush()
    assert _eta(client, key, job) == 0.0


def test_another_tenants_work_is_not_ahead_but_halves_the_share(
    client: TestClient, db: Session, tenant_key: tuple[Tenant, str]
) -> None:
    tenant, key = tenant_key
    job = _planned(db, tenant, 2)
    alone = _eta(client, key, job)
    other, _ = tenant_with_key(name=f"other-{uuid.uuid4().hex[:6]}")
    _planned(db, other, 50, created_at=datetime.now(UTC) - timedelta(hours=1))

    assert _eta(client, key, job) == pytest.approx(2 * alone, abs=0.11)  # shown to 0.1 s


def test_a_batch_shows_the_eta_of_its_last_job(
    client: TestClient, db: Session, tenant_key: tuple[Tenant, str]
) -> None:
    tenant, key = tenant_key
    batch = client.post(
        "/v1/batches",
        json={
            "sources": [f"s3://media/{tenant.name}/a.mp4", f"s3://media/{tenant.name}/b.mp4"],
            "target_langs": ["en"],
        },
        headers=auth(key),
    ).json()
    assert batch["eta_s"] is None  # nothing planned: nothing says what it costs
    jobs = db.query(Job).filter(Job.batch_id == uuid.UUID(batch["id"])).all()
    for job in jobs:
        job.status, job.stage, job.chunks_total = "running", "translating", 2
        for idx in range(2):
            db.add(
                Chunk(
                    tenant_id=tenant.id,
                    job_id=job.id,
                    idx=idx,
                    start_s=idx * 60.0,
                    end_s=idx * 60.0 + 60,
                    est_input_audio=1500,
                    est_output_text=300,
                )
            )
    db.flush()
    last = max(jobs, key=lambda job: (job.created_at, job.id))
    shown = client.get(f"/v1/batches/{batch['id']}", headers=auth(key)).json()
    assert shown["eta_s"] == _eta(client, key, last) > 0
