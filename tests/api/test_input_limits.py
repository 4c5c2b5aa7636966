"""Every input the API accepts is bounded: labels, budgets, sources, URIs, listings.
Out of bounds is a 422 with a code, never a 500 and never a row that breaks later."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Job
from ltb.settings import Settings
from ltb.storage import ListedObject, ObjectRef, ObjectStore

from support.factories import tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_key(db: Session) -> tuple[Any, str]:
    return tenant_with_key(name=f"lim-{uuid.uuid4().hex[:6]}")


def job_body(tenant: Any, **extra: Any) -> dict[str, Any]:
    return {"source_uri": f"s3://media/{tenant.name}/talk.mp4", "target_lang": "en", **extra}


@pytest.mark.parametrize(
    "extra",
    [
        {"labels": {"k" * 65: "v"}},
        {"labels": {"": "v"}},
        {"labels": {"customer": "v" * 257}},
        {"labels": {"note": "x" * 4_500}},
        {"labels": {"note": "x" * 1_048_576}},
        {"labels": {f"key-{n:02d}": "v" * 250 for n in range(20)}},
        {"budget": {"max_input_tokens": 10**19}},
        {"budget": {"max_input_tokens": 10**13}},
        {"budget": {"max_cost": "1e15"}},
        {"budget": {"max_cost": "Infinity"}},
        {"budget": {"max_cost": "0.000000001"}},
        {"source_uri": "s3://media/{t}/" + "a" * 3_000 + ".mp4"},
        {"callback_url": "https://93.184.216.34/" + "a" * 3_000},
    ],
    ids=[
        "label-key-too-long",
        "label-key-empty",
        "label-value-too-long",
        "label-4.5kB",
        "label-1MB",
        "labels-too-big-in-total",
        "tokens-beyond-bigint",
        "tokens-too-many",
        "cost-too-high",
        "cost-infinite",
        "cost-finer-than-stored",
        "source-uri-too-long",
        "callback-url-too-long",
    ],
)
def test_a_job_out_of_bounds_is_refused_with_422(
    client: TestClient, db: Session, tenant_key: tuple[Any, str], extra: dict[str, Any]
) -> None:
    tenant, key = tenant_key
    body = job_body(tenant, **extra)
    body["source_uri"] = body["source_uri"].replace("{t}", tenant.name)
    response = client.post("/v1/jobs", json=body, headers=auth(key))
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"]["code"] == "invalid_request"
    assert db.query(Job).filter(Job.tenant_id == tenant.id).count() == 0


def test_labels_and_budgets_at_their_bounds_are_accepted(
    client: TestClient, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    labels = {"k" * 64: "v" * 256, "customer": "globex"}
    budget = {"max_input_tokens": 10**12, "max_cost": "1000000000"}
    response = client.post(
        "/v1/jobs", json=job_body(tenant, labels=labels, budget=budget), headers=auth(key)
    )
    assert response.status_code == 202, response.text
    assert response.json()["labels"] == labels


def test_a_batch_with_too_many_sources_is_refused(
    client: TestClient, db: Session, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    body = {
        "sources": [f"s3://media/{tenant.name}/{n}.mp3" for n in range(50_001)],
        "target_langs": ["en"],
    }
    response = client.post("/v1/batches", json=body, headers=auth(key))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert db.scalar(select(Batch).where(Batch.tenant_id == tenant.id)) is None


def test_batch_labels_are_bounded_like_a_job_s(
    client: TestClient, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    body = {
        "sources": [f"s3://media/{tenant.name}/a.mp3"],
        "target_langs": ["en"],
        "labels": {"note": "x" * 4_500},
    }
    response = client.post("/v1/batches", json=body, headers=auth(key))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


class CountingStore:
    """The real store, counting how many listed objects the API pulled from it."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.listed = 0

    def list(self, prefix: ObjectRef) -> Iterator[ListedObject]:
        for item in self._store.list(prefix):
            self.listed += 1
            yield item

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_source_prefix_is_listed_only_up_to_the_job_limit(
    client: TestClient, db: Session, settings: Settings, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    folder: Path = settings.storage_root / "media" / tenant.name / "big"
    folder.mkdir(parents=True)
    for n in range(40):
        (folder / f"{n:03d}.mp3").write_bytes(b"x")
    context = client.app.state.context
    context.settings = settings.model_copy(update={"max_batch_jobs": 10})
    store = CountingStore(context.store)
    context.store = store
    response = client.post(
        "/v1/batches",
        json={"source_prefix": f"s3://media/{tenant.name}/big/", "target_langs": ["en", "de"]},
        headers=auth(key),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "too_many_jobs"
    # 10 jobs over 2 targets is 5 sources: the sixth media file ends the listing.
    assert store.listed == 6
    assert db.scalar(select(Batch).where(Batch.tenant_id == tenant.id)) is None
