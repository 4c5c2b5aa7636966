"""GET /metrics on the metrics listener (LTB_METRICS_HOST/PORT, never the public API):
fleet-wide figures read from the database and the broker per scrape.

The test database is shared by the session's tests (each rolled back), so these tests
compare scrapes taken before and after their own rows, or read labels only their rows
carry (a model and a currency of their own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from api.app import create_app, create_metrics_app
from api.deps import get_session
from ltb.db.migrate import upgrade
from ltb.db.models import Chunk, Job, Tenant
from ltb.queue import PLAN_JOB
from ltb.settings import Settings

from support.api_session import serve
from support.factories import JobFactory, TenantFactory, UsageRecordFactory, tenant_with_key

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
BUCKETS = ("1.0", "2.0", "5.0", "10.0", "20.0", "30.0", "60.0", "120.0", "300.0", "600.0", "+Inf")


@pytest.fixture
def api_client(settings: Settings, db: Session) -> Iterator[TestClient]:
    """The public API, to show it does not serve /metrics."""
    app = create_app(settings)
    app.dependency_overrides[get_session] = serve(db)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(settings: Settings, db: Session) -> Iterator[TestClient]:
    """The metrics listener's app, on the test's rolled-back session."""
    app = create_metrics_app(settings)
    app.dependency_overrides[get_session] = serve(db)
    with TestClient(app) as test_client:
        yield test_client


def scrape(client: TestClient) -> Samples:
    """Every sample of GET /metrics, by sample name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def chunk(job: Job, idx: int, *, status: str, took_s: float | None, finished: datetime) -> Chunk:
    return Chunk(
        tenant_id=job.tenant_id,
        job_id=job.id,
        idx=idx,
        start_s=idx * 30.0,
        end_s=idx * 30.0 + 30.0,
        status=status,
        started_at=None if took_s is None else finished - timedelta(seconds=took_s),
        finished_at=finished,
    )


def test_the_public_api_does_not_serve_metrics_with_or_without_a_key(
    api_client: TestClient,
) -> None:
    _, key = tenant_with_key()

    for headers in ({}, {"Authorization": f"Bearer {key}"}):
        response = api_client.get("/metrics", headers=headers)
        assert response.status_code == 404, response.text


def test_the_metrics_listener_serves_nothing_else(client: TestClient) -> None:
    _, key = tenant_with_key()

    response = client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 404


def test_served_without_a_key_as_prometheus_text_with_no_tenant_labels(
    client: TestClient,
) -> None:
    tenant = TenantFactory()
    job = JobFactory(tenant_id=tenant.id)
    UsageRecordFactory(tenant_id=tenant.id, job_id=job.id)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    labels = {
        label
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        for label in sample.labels
    }
    assert labels <= {"status", "le", "kind", "model", "currency"}


def test_jobs_are_counted_in_every_status(client: TestClient) -> None:
    before = scrape(client)
    tenant = TenantFactory()
    seeded = {"queued": 2, "running": 1, "succeeded": 3, "failed": 1, "estimated": 1}
    for status, count in seeded.items():
        for _ in range(count):
            JobFactory(tenant_id=tenant.id, status=status)

    after = scrape(client)

    statuses = ("queued", "running", "succeeded", "failed", "cancelled", "estimated")
    assert {status: delta(before, after, "ltb_jobs", status=status) for status in statuses} == {
        **dict.fromkeys(statuses, 0),
        **seeded,
    }


def test_chunk_durations_of_the_last_day_are_bucketed(client: TestClient, db: Session) -> None:
    before = scrape(client)
    tenant = TenantFactory()
    job = JobFactory(tenant_id=tenant.id, status="running")
    recently = datetime.now(UTC) - timedelta(hours=1)
    counted = [0.5, 1.0, 3.25, 45.0, 700.0]
    db.add_all(
        [
            *(
                chunk(job, idx, status="done", took_s=took_s, finished=recently)
                for idx, took_s in enumerate(counted)
            ),
            # Still inside the window, at its old end.
            chunk(
                job, 5, status="done", took_s=8.0, finished=datetime.now(UTC) - timedelta(hours=23)
            ),
            # Not counted: finished before the window, not done, or never timed.
            chunk(
                job, 6, status="done", took_s=2.0, finished=datetime.now(UTC) - timedelta(hours=25)
            ),
            chunk(job, 7, status="failed", took_s=2.0, finished=recently),
            chunk(job, 8, status="silent", took_s=2.0, finished=recently),
            chunk(job, 9, status="done", took_s=None, finished=recently),
        ]
    )
    db.flush()

    after = scrape(client)

    buckets = {
        le: delta(before, after, "ltb_chunk_duration_seconds_bucket", le=le) for le in BUCKETS
    }
    # 1.0 s falls in the le="1.0" bucket: Prometheus buckets are inclusive upper bounds.
    assert buckets == {
        "1.0": 2,
        "2.0": 2,
        "5.0": 3,
        "10.0": 4,
        "20.0": 4,
        "30.0": 4,
        "60.0": 5,
        "120.0": 5,
        "300.0": 5,
        "600.0": 5,
        "+Inf": 6,
    }
    assert delta(before, after, "ltb_chunk_duration_seconds_count") == 6
    assert delta(before, after, "ltb_chunk_duration_seconds_sum") == pytest.approx(757.75)


def test_tokens_requests_429s_and_cost_come_from_the_rollup(client: TestClient) -> None:
    tenant = TenantFactory()
    job = JobFactory(tenant_id=tenant.id)
    model = f"metrics-model-{uuid.uuid4().hex[:8]}"
    # XTS is the ISO code reserved for testing: no other row carries it.
    records = [
        {"input_audio": 375, "output_text": 120, "cost": Decimal("0.005")},
        {
            "input_audio": 100,
            "input_video": 50,
            "input_text": 7,
            "output_text": 40,
            "output_audio": 300,
            "cost": Decimal("0.002"),
        },
        {
            "input_audio": 0,
            "output_text": 0,
            "cost": Decimal(0),
            "outcome": "provider_rate_limited",
        },
    ]
    for attempt, fields in enumerate(records, start=1):
        UsageRecordFactory(
            tenant_id=tenant.id,
            job_id=job.id,
            attempt=attempt,
            model=model,
            currency="XTS",
            **fields,
        )

    samples = scrape(client)

    tokens = {
        kind: value(samples, "ltb_provider_tokens_total", kind=kind, model=model)
        for kind in ("input_audio", "input_video", "input_text", "output_text", "output_audio")
    }
    assert tokens == {
        "input_audio": 475,
        "input_video": 50,
        "input_text": 7,
        "output_text": 160,
        "output_audio": 300,
    }
    assert value(samples, "ltb_provider_requests_total", model=model) == 3
    assert value(samples, "ltb_provider_rate_limited_total", model=model) == 1
    assert value(samples, "ltb_cost_total", currency="XTS") == pytest.approx(0.007)


def test_a_request_later_marked_rate_limited_is_counted_once(
    client: TestClient, db: Session
) -> None:
    tenant = TenantFactory()
    job = JobFactory(tenant_id=tenant.id)
    model = f"metrics-model-{uuid.uuid4().hex[:8]}"
    record = UsageRecordFactory(tenant_id=tenant.id, job_id=job.id, model=model, outcome="pending")
    record.outcome = "provider_rate_limited"
    db.flush()

    samples = scrape(client)

    assert value(samples, "ltb_provider_requests_total", model=model) == 1
    assert value(samples, "ltb_provider_rate_limited_total", model=model) == 1


def test_limiter_wait_and_request_seconds_are_summed(client: TestClient) -> None:
    before = scrape(client)
    tenant = TenantFactory()
    job = JobFactory(tenant_id=tenant.id)
    for attempt, (waited_s, took_s) in enumerate([(0.25, 1.5), (1.0, 2.5), (2.0, None)], start=1):
        UsageRecordFactory(
            tenant_id=tenant.id,
            job_id=job.id,
            attempt=attempt,
            limiter_wait_s=waited_s,
            duration_s=took_s,
        )

    after = scrape(client)

    assert delta(before, after, "ltb_rate_limiter_wait_seconds_total") == pytest.approx(3.25)
    assert delta(before, after, "ltb_provider_request_seconds_total") == pytest.approx(4.0)


def test_queue_depth_counts_waiting_messages(client: TestClient) -> None:
    before = scrape(client)
    client.app.state.context.queue.send_task(PLAN_JOB, args=[str(uuid.uuid4())])

    after = scrape(client)

    assert value(after, "ltb_broker_up") == 1
    assert value(before, "ltb_queue_depth") >= 0
    assert delta(before, after, "ltb_queue_depth") == 1


@pytest.fixture
def client_without_broker(settings: Settings, db: Session) -> Iterator[TestClient]:
    # Nothing listens on port 1: the connection is refused at once.
    app = create_metrics_app(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}))
    app.dependency_overrides[get_session] = serve(db)
    with TestClient(app) as test_client:
        yield test_client


def test_an_unreachable_broker_drops_queue_depth_not_the_scrape(
    client_without_broker: TestClient,
) -> None:
    samples = scrape(client_without_broker)

    assert value(samples, "ltb_broker_up") == 0
    assert not any(name == "ltb_queue_depth" for name, _ in samples)
    assert value(samples, "ltb_jobs", status="queued") >= 0


def test_chunk_durations_on_sqlite(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ltb.sqlite3'}"
    upgrade(url)
    app = create_metrics_app(settings.model_copy(update={"database_url": url}))
    recently = datetime.now(UTC) - timedelta(hours=1)
    with app.state.context.sessions() as session:
        tenant = Tenant(name="sqlite-metrics")
        session.add(tenant)
        session.flush()
        job = Job(
            tenant_id=tenant.id,
            source_uri="s3://media/a.mp3",
            target_lang="en",
            outputs=["text"],
            output_prefix="s3://ltb-outputs/a/",
            status="running",
        )
        session.add(job)
        session.flush()
        # Off the bucket bounds: julianday() arithmetic is exact to about a millisecond.
        for idx, took_s in enumerate([0.5, 3.25, 45.0, 700.0]):
            session.add(chunk(job, idx, status="done", took_s=took_s, finished=recently))
        session.add(
            chunk(job, 4, status="done", took_s=2.0, finished=recently - timedelta(hours=25))
        )
        session.commit()

    with TestClient(app) as sqlite_client:
        samples = scrape(sqlite_client)

    buckets = {le: value(samples, "ltb_chunk_duration_seconds_bucket", le=le) for le in BUCKETS}
    assert buckets == {
        "1.0": 1,
        "2.0": 1,
        "5.0": 2,
        "10.0": 2,
        "20.0": 2,
        "30.0": 2,
        "60.0": 3,
        "120.0": 3,
        "300.0": 3,
        "600.0": 3,
        "+Inf": 4,
    }
    assert value(samples, "ltb_chunk_duration_seconds_sum") == pytest.approx(748.75, abs=0.01)
    assert value(samples, "ltb_jobs", status="running") == 1


def counters(samples: Samples) -> Samples:
    return {key: v for key, v in samples.items() if key[0].endswith("_total")}


def test_counters_never_decrease_when_usage_rows_are_deleted(
    client: TestClient, db: Session
) -> None:
    tenant = TenantFactory()
    job = JobFactory(tenant_id=tenant.id)
    model = f"metrics-model-{uuid.uuid4().hex[:8]}"
    rows = [
        UsageRecordFactory(
            tenant_id=tenant.id,
            job_id=job.id,
            attempt=attempt,
            model=model,
            input_audio=100,
            output_text=10,
            currency="XTS",
            cost=Decimal("0.001"),
            limiter_wait_s=1.0,
            duration_s=2.0,
        )
        for attempt in (1, 2, 3)
    ]
    first = counters(scrape(client))
    assert value(first, "ltb_provider_tokens_total", kind="input_audio", model=model) == 300

    # Deleting rows moves the rollup down; the counters hold.
    for row in rows[:2]:
        db.delete(row)
    db.flush()
    second = counters(scrape(client))
    assert {key: second.get(key, -1.0) >= v for key, v in first.items()} == dict.fromkeys(
        first, True
    )
    assert value(second, "ltb_provider_tokens_total", kind="input_audio", model=model) == 300
    assert value(second, "ltb_cost_total", currency="XTS") == pytest.approx(0.003)

    # The model's last row gone: its series stays, at its last value.
    db.delete(rows[2])
    db.flush()
    third = counters(scrape(client))
    assert value(third, "ltb_provider_tokens_total", kind="input_audio", model=model) == 300
    assert value(third, "ltb_provider_requests_total", model=model) == 3

    # New usage counts from there on.
    UsageRecordFactory(
        tenant_id=tenant.id,
        job_id=job.id,
        attempt=4,
        model=model,
        input_audio=50,
        output_text=5,
        currency="XTS",
        cost=Decimal("0.0005"),
    )
    fourth = counters(scrape(client))
    assert value(fourth, "ltb_provider_tokens_total", kind="input_audio", model=model) == 350
    assert value(fourth, "ltb_provider_tokens_total", kind="output_text", model=model) == 35
    assert value(fourth, "ltb_provider_requests_total", model=model) == 4
    assert value(fourth, "ltb_cost_total", currency="XTS") == pytest.approx(0.0035)
