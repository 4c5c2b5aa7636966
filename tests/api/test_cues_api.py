"""GET/PATCH /v1/jobs/{id}/cues and POST /v1/jobs/{id}/chunks/{index}/redo: the rules the
API holds (a succeeded job, one revision at a time, the subtitle rules, tenancy). Writing
the revision is a worker's: tests/e2e/test_cue_edits_and_redo.py runs it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ltb.db.models import Chunk, JobCue, JobRevision

from support.factories import JobFactory, tenant_with_key

CUES = [
    (1.0, 3.0, "Hello there."),
    (3.5, 6.0, "How are you\ntoday?"),
    (7.0, 9.0, "Fine, thanks."),
]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def tenant_key(db: Session) -> tuple[Any, str]:
    return tenant_with_key(name=f"acme-{uuid.uuid4().hex[:6]}")


def _succeeded_job(db: Session, tenant: Any, *, status: str = "succeeded", **extra: Any) -> Any:
    job = JobFactory(tenant_id=tenant.id, status=status, chunks_total=2, chunks_done=2, **extra)
    for idx, (status_, start_s, end_s) in enumerate(
        [("done", 0.0, 6.0), ("silent", 6.0, 7.0), ("done", 7.0, 10.0)]
    ):
        db.add(
            Chunk(
                tenant_id=tenant.id,
                job_id=job.id,
                idx=idx,
                start_s=start_s,
                end_s=end_s,
                status=status_,
                result_text="x" if status_ == "done" else None,
            )
        )
    for number, (start_s, end_s, text) in enumerate(CUES, start=1):
        db.add(
            JobCue(job_id=job.id, revision=0, idx=number, start_s=start_s, end_s=end_s, text=text)
        )
    db.flush()
    return job


def test_get_lists_the_cues_of_the_current_revision(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = _succeeded_job(db, tenant)
    response = client.get(f"/v1/jobs/{job.id}/cues", headers=auth(key))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["revision"] == 0 and answer["target_lang"] == "en"
    assert answer["cues"][1] == {
        "index": 2,
        "start_s": 3.5,
        "end_s": 6.0,
        "text": "How are you\ntoday?",
        "source_text": None,
    }
    assert [c["index"] for c in answer["cues"]] == [1, 2, 3]


def test_an_edit_queues_revision_1_with_the_edited_cues_and_one_revision_at_a_time(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = _succeeded_job(db, tenant)
    edit = {"cues": [{"index": 2, "text": "How are you\ndoing today?", "start_s": 3.4}]}
    response = client.patch(f"/v1/jobs/{job.id}/cues", json=edit, headers=auth(key))
    assert response.status_code == 202, response.text
    revision = response.json()
    assert revision["revision"] == 1 and revision["status"] == "pending"
    assert revision["reason"] == "cue_edit"
    stored = db.scalars(
        select(JobCue).where(JobCue.job_id == job.id, JobCue.revision == 1).order_by(JobCue.idx)
    ).all()
    assert [(c.start_s, c.text) for c in stored] == [
        (1.0, "Hello there."),
        (3.4, "How are you\ndoing today?"),
        (7.0, "Fine, thanks."),
    ]
    view = client.get(f"/v1/jobs/{job.id}", headers=auth(key)).json()
    # The outputs stay those of revision 0 until a worker has written revision 1.
    assert view["output_revision"] == 0
    assert [(r["revision"], r["status"]) for r in view["revisions"]] == [(1, "pending")]
    # GET still shows the published cues.
    assert client.get(f"/v1/jobs/{job.id}/cues", headers=auth(key)).json()["revision"] == 0
    again = client.patch(f"/v1/jobs/{job.id}/cues", json=edit, headers=auth(key))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "revision_pending"


def test_violations_are_answered_with_their_cue_indices_and_nothing_is_written(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = _succeeded_job(db, tenant)
    edit = {
        "cues": [
            {"index": 1, "text": "x" * 60},
            {"index": 3, "start_s": 7.0, "end_s": 30.0},
            {"index": 9, "text": "no such cue"},
        ]
    }
    response = client.patch(f"/v1/jobs/{job.id}/cues", json=edit, headers=auth(key))
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["error"]["code"] == "cue_rules_violated"
    assert [(v["index"], v["rule"]) for v in answer["violations"]] == [(9, "unknown_cue")]
    del edit["cues"][2]
    answer = client.patch(f"/v1/jobs/{job.id}/cues", json=edit, headers=auth(key)).json()
    found = {(v["index"], v["rule"]) for v in answer["violations"]}
    assert {(1, "max_chars_per_line"), (3, "max_duration")} <= found
    assert all(f"cue {v['index']}" in v["message"] for v in answer["violations"])
    assert db.scalars(select(JobRevision).where(JobRevision.job_id == job.id)).all() == []


@pytest.mark.parametrize("status", ["queued", "running", "failed", "cancelled"])
def test_a_job_that_has_not_succeeded_has_no_cues_to_edit_or_chunks_to_redo(
    client: TestClient, db: Session, tenant_key, status: str
) -> None:
    tenant, key = tenant_key
    job = _succeeded_job(db, tenant, status=status)
    calls = [
        client.get(f"/v1/jobs/{job.id}/cues", headers=auth(key)),
        client.patch(
            f"/v1/jobs/{job.id}/cues", json={"cues": [{"index": 1, "text": "x"}]}, headers=auth(key)
        ),
        client.post(f"/v1/jobs/{job.id}/chunks/0/redo", headers=auth(key)),
    ]
    assert [r.status_code for r in calls] == [409, 409, 409]
    assert {r.json()["error"]["code"] for r in calls} == {"job_not_succeeded"}


def test_another_tenant_s_job_does_not_exist(client: TestClient, db: Session, tenant_key) -> None:
    tenant, _ = tenant_key
    job = _succeeded_job(db, tenant)
    _, other_key = tenant_with_key(name=f"globex-{uuid.uuid4().hex[:6]}")
    calls = [
        client.get(f"/v1/jobs/{job.id}/cues", headers=auth(other_key)),
        client.patch(
            f"/v1/jobs/{job.id}/cues",
            json={"cues": [{"index": 1, "text": "x"}]},
            headers=auth(other_key),
        ),
        client.post(f"/v1/jobs/{job.id}/chunks/0/redo", headers=auth(other_key)),
    ]
    assert [r.status_code for r in calls] == [404, 404, 404]
    # The job is not found (not the route): the owner's key reaches the same job.
    assert {r.json()["error"]["message"] for r in calls} == {"job not found"}


def test_redo_queues_a_revision_for_one_translated_chunk(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = _succeeded_job(db, tenant)
    response = client.post(f"/v1/jobs/{job.id}/chunks/2/redo", headers=auth(key))
    assert response.status_code == 202, response.text
    revision = response.json()
    assert (revision["revision"], revision["reason"], revision["chunk_index"]) == (1, "redo", 2)
    row = db.get(JobRevision, (job.id, 1))
    assert row is not None and row.status == "pending" and row.voice is None


def test_redo_refuses_a_chunk_that_was_not_translated_a_missing_one_and_an_unused_voice(
    client: TestClient, db: Session, tenant_key
) -> None:
    tenant, key = tenant_key
    job = _succeeded_job(db, tenant)
    silent = client.post(f"/v1/jobs/{job.id}/chunks/1/redo", headers=auth(key))
    assert silent.status_code == 409
    assert silent.json()["error"]["code"] == "chunk_not_redoable"
    missing = client.post(f"/v1/jobs/{job.id}/chunks/7/redo", headers=auth(key))
    assert missing.status_code == 404
    voiced = client.post(
        f"/v1/jobs/{job.id}/chunks/0/redo", json={"voice": "Cherry"}, headers=auth(key)
    )
    assert voiced.status_code == 422
    assert voiced.json()["error"]["code"] == "voice_not_used"
