"""One outside view: the API's answers and the webhook bodies are the same models, which
declare every key; and the API refuses what its document says it refuses."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.jobs.schemas import BatchView, JobView, Language, OutputKind, Voice
from ltb.db.models import Batch
from ltb.languages import LANGUAGES, OUTPUT_KINDS, VOICES
from ltb.lifecycle import finish_job
from ltb.settings import Settings
from ltb.storage import object_store
from ltb.views import batch_view, job_view

from support.factories import JobFactory, tenant_with_key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_key(db: Session) -> tuple[Any, str]:
    return tenant_with_key(name=f"view-{uuid.uuid4().hex[:6]}")


def _job_answer() -> dict[str, Any]:
    zero = {
        "input_audio_tokens": 0,
        "input_video_tokens": 0,
        "input_text_tokens": 0,
        "output_text_tokens": 0,
        "output_audio_tokens": 0,
        "total_tokens": 0,
        "requests": 0,
        "cost": 0.0,
    }
    return {
        "id": str(uuid.uuid4()),
        "status": "queued",
        "stage": None,
        "progress": {"chunks_done": 0, "chunks_total": 0, "percent": 0.0},
        "estimate": {"input_tokens": None, "output_tokens": None, "cost": None},
        "usage": zero | {"currency": None, "price_table": None},
        "outputs": [],
        "error": None,
        "labels": {},
        "created_at": datetime.now(UTC).isoformat(),
        "started_at": None,
        "finished_at": None,
        "source_uri": "s3://media/a/talk.mp3",
        "target_lang": "en",
        "source_lang": None,
        "requested_outputs": ["text"],
        "visual_context": "off",
        "batch_id": None,
        "callback_url": None,
        "warnings": [],
        "provider": None,
        "output_revision": 0,
        "revisions": [],
    }


def test_the_job_view_refuses_a_key_it_does_not_declare() -> None:
    JobView.model_validate(_job_answer())
    with pytest.raises(ValidationError, match="surprise"):
        JobView.model_validate(_job_answer() | {"surprise": 1})
    nested = _job_answer()
    nested["progress"]["eta_s"] = 3
    with pytest.raises(ValidationError, match="eta_s"):
        JobView.model_validate(nested)


def test_the_batch_view_refuses_a_key_it_does_not_declare() -> None:
    with pytest.raises(ValidationError, match="surprise"):
        BatchView.model_validate({"surprise": 1})
    assert "surprise" not in BatchView.model_json_schema()["properties"]
    assert BatchView.model_json_schema()["additionalProperties"] is False


def test_the_enums_are_the_services_own_lists() -> None:
    assert [language.value for language in Language] == list(LANGUAGES)
    assert {voice.value for voice in Voice} == set(VOICES)
    assert tuple(kind.value for kind in OutputKind) == OUTPUT_KINDS


def test_a_job_webhook_body_is_exactly_what_get_answers(
    client: TestClient, db: Session, settings: Settings, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    job = JobFactory(
        tenant_id=tenant.id,
        status="running",
        labels={"customer": "globex"},
        callback_url="https://hooks.example.com/x",
    )
    finish_job(db, job, status="failed", error=("provider_rejected", "refused"))
    answer = client.get(f"/v1/jobs/{job.id}", headers=auth(key)).json()
    body = job_view(db, job, store=object_store(settings), presign_expiry_s=60)
    # What the webhook worker sends is this dict as JSON: the same document, key for key.
    assert json.loads(json.dumps(body)) == body
    assert body == answer


def test_a_batch_webhook_body_is_exactly_what_get_answers(
    client: TestClient, db: Session, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    batch = Batch(tenant_id=tenant.id, target_langs=["en", "ja"], jobs_total=2)
    db.add(batch)
    db.flush()
    for target in ("en", "ja"):
        JobFactory(tenant_id=tenant.id, batch_id=batch.id, target_lang=target)
    answer = client.get(f"/v1/batches/{batch.id}", headers=auth(key)).json()
    body = batch_view(db, batch)
    assert json.loads(json.dumps(body)) == body
    assert body == answer


@pytest.mark.parametrize(
    "params",
    [{"to": "0.5"}, {"from": "0"}, {"to": "2026-05-01T12:00:00Z"}, {"from": "May 1"}],
    ids=["fraction", "number", "time-of-day", "words"],
)
def test_usage_takes_only_dates(
    client: TestClient, tenant_key: tuple[Any, str], params: dict[str, str]
) -> None:
    _, key = tenant_key
    response = client.get("/v1/usage", params=params, headers=auth(key))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_usage_takes_a_day_or_midnight(client: TestClient, tenant_key: tuple[Any, str]) -> None:
    _, key = tenant_key
    for params in ({"from": "2026-05-01", "to": "2026-06-01"}, {"to": "2026-06-01T00:00:00Z"}):
        assert client.get("/v1/usage", params=params, headers=auth(key)).status_code == 200


def test_a_wrong_method_names_every_method_of_the_path(client: TestClient) -> None:
    response = client.delete("/v1/jobs")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert {m.strip() for m in response.headers["Allow"].split(",")} >= {"GET", "POST"}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"target": "xx"}, "unknown_language"),
        ({"status": "sleeping"}, "invalid_request"),
        ({"created_from": "0"}, "invalid_request"),
        ({"label": ":x"}, "invalid_label_filter"),
    ],
)
def test_job_listing_filters_are_checked(
    client: TestClient, tenant_key: tuple[Any, str], params: dict[str, str], code: str
) -> None:
    _, key = tenant_key
    response = client.get("/v1/jobs", params=params, headers=auth(key))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
