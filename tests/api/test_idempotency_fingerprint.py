"""An Idempotency-Key's fingerprint survives a release that adds an optional field: it
covers only the fields a request sets away from their defaults, for jobs and batches alike."""

from __future__ import annotations

import hashlib
import json
import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from ltb.db.models import Batch, Job

from support.factories import tenant_with_key


def _sha(fields: dict[str, object]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _submit(client: TestClient, db: Session, path: str, body: dict[str, object]) -> str | None:
    _, key = tenant_with_key(name="acme-upgrade")
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "release-upgrade"}
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 202, response.text
    model = Job if path == "/v1/jobs" else Batch
    row = db.get(model, uuid.UUID(response.json()["id"]))
    assert row is not None
    return row.request_fingerprint


def test_a_job_fingerprint_covers_only_the_fields_the_request_sets(
    client: TestClient, db: Session
) -> None:
    body = {
        "source_uri": "s3://media/acme-upgrade/a.mp4",
        "target_lang": "ja",
        "labels": {"show": "x"},
    }

    assert _submit(client, db, "/v1/jobs", body) == _sha(body)


def test_a_default_spelled_out_fingerprints_as_one_left_out(
    client: TestClient, db: Session
) -> None:
    body = {"source_uri": "s3://media/acme-upgrade/a.mp4", "target_lang": "ja"}
    spelled_out = {**body, "outputs": ["text", "srt"], "estimate_only": False}

    assert _submit(client, db, "/v1/jobs", spelled_out) == _sha(body)


def test_a_batch_fingerprint_follows_the_same_rule(client: TestClient, db: Session) -> None:
    body = {"sources": ["s3://media/acme-upgrade/a.mp4"], "target_langs": ["ja"]}

    assert _submit(client, db, "/v1/batches", body) == _sha(body)
