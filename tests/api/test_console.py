"""The web console in-process, on a real Postgres and the folder store: sign-in, the tenant
checks it shares with the API, CSRF, the operator's view, the cue table and media."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.console.auth import COOKIE
from ltb.db.models import ApiKey, Job
from ltb.settings import Settings
from ltb.tenancy import create_operator_key, revoke_key

from support.factories import JobFactory, UsageRecordFactory, tenant_with_key

# Cue 2 lasts 8 s: past the 7 s maximum, so it breaks a rule.
SRT = """1
00:00:01,000 --> 00:00:03,000
Hello there.

2
00:00:04,000 --> 00:00:12,000
A cue that stays up too long.
"""


def _sign_in(client: TestClient, key: str) -> str:
    """Signs in; returns the CSRF token the pages carry."""
    answer = client.post("/console/sign-in", data={"api_key": key}, follow_redirects=True)
    assert answer.status_code == 200, answer.text
    found = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', answer.text)
    assert found, "signed-in pages carry the CSRF token"
    return found.group(1)


def _finished_job(settings: Settings, tenant_id: uuid.UUID, target: str = "en") -> uuid.UUID:
    job = JobFactory(
        tenant_id=tenant_id,
        target_lang=target,
        status="succeeded",
        outputs=["text", "srt"],
        finished_at=datetime.now(UTC),
        chunks_total=1,
        chunks_done=1,
    )
    folder = settings.storage_root / "ltb-outputs" / "x" / str(job.id)
    folder.mkdir(parents=True)
    (folder / "subtitles.srt").write_text(SRT, encoding="utf-8")
    (folder / "translation.txt").write_text("Hello there.\n", encoding="utf-8")
    UsageRecordFactory(tenant_id=tenant_id, job_id=job.id)
    return job.id


def test_a_bad_key_does_not_sign_in_and_pages_send_you_to_sign_in(client: TestClient) -> None:
    refused = client.post("/console/sign-in", data={"api_key": "ltb_nope"})
    assert refused.status_code == 401
    assert "not valid" in refused.text
    assert COOKIE not in client.cookies
    page = client.get("/console/jobs", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/console/sign-in"


def test_the_session_cookie_is_http_only_strict_and_scoped_to_the_console(
    client: TestClient, db: Session
) -> None:
    _, key = tenant_with_key()
    answer = client.post("/console/sign-in", data={"api_key": key}, follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    # A session cookie: it ends with the browser session.
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()


def test_another_tenant_s_job_is_not_found_as_in_the_api(
    client: TestClient, db: Session, settings: Settings
) -> None:
    mine, key = tenant_with_key()
    theirs, _ = tenant_with_key()
    my_job = _finished_job(settings, mine.id)
    their_job = _finished_job(settings, theirs.id)
    _sign_in(client, key)

    listing = client.get("/console/jobs")
    assert str(my_job) in listing.text and str(their_job) not in listing.text
    for path in ("", "/outputs/srt", "/source", "/progress"):
        answer = client.get(f"/console/jobs/{their_job}{path}")
        assert answer.status_code == 404, path
        assert 'data-code="not_found"' in answer.text
    api = client.get(f"/v1/jobs/{their_job}", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_the_job_page_lists_cues_with_their_rule_violations(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key()
    job_id = _finished_job(settings, tenant.id)
    _sign_in(client, key)
    page = client.get(f"/console/jobs/{job_id}")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="cue( violates)?" data-start="([0-9.]+)"', page.text)
    assert rows == [("", "1.0"), (" violates", "4.0")]
    assert "maximum duration" in page.text
    assert "2 cues, 1 breaking a rule for en" in page.text
    assert f"/console/jobs/{job_id}/outputs/srt?download=true" in page.text


def test_outputs_are_served_with_byte_ranges(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key()
    job_id = _finished_job(settings, tenant.id)
    _sign_in(client, key)
    whole = client.get(f"/console/jobs/{job_id}/outputs/srt?download=true")
    assert whole.status_code == 200 and whole.text == SRT
    assert "attachment" in whole.headers["content-disposition"]
    part = client.get(f"/console/jobs/{job_id}/outputs/srt", headers={"Range": "bytes=0-1"})
    assert part.status_code == 206 and part.content == b"1\n"
    # Kinds the job did not ask for are not there.
    assert client.get(f"/console/jobs/{job_id}/outputs/wav").status_code == 404


def test_the_job_page_and_its_outputs_follow_the_current_output_revision(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key()
    job_id = _finished_job(settings, tenant.id)
    revised = settings.storage_root / "ltb-outputs" / "x" / str(job_id) / "rev-1"
    revised.mkdir()
    edited = SRT.replace("Hello there.", "Hello, edited.")
    (revised / "subtitles.srt").write_text(edited, encoding="utf-8")
    db.execute(update(Job).where(Job.id == job_id).values(output_revision=1))
    _sign_in(client, key)
    page = client.get(f"/console/jobs/{job_id}")
    assert "Hello, edited." in page.text and "Hello there." not in page.text
    assert client.get(f"/console/jobs/{job_id}/outputs/srt").text == edited


def test_a_sign_in_posted_from_another_site_is_refused(client: TestClient, db: Session) -> None:
    _, key = tenant_with_key()
    refused = client.post(
        "/console/sign-in", data={"api_key": key}, headers={"Origin": "https://evil.example"}
    )
    assert refused.status_code == 403 and 'data-code="cross_origin_sign_in"' in refused.text
    assert COOKIE not in client.cookies
    same = client.post(
        "/console/sign-in",
        data={"api_key": key},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303


def test_posts_without_the_session_s_csrf_token_are_refused(
    client: TestClient, db: Session
) -> None:
    _, key = tenant_with_key()
    token = _sign_in(client, key)
    refused = client.post("/console/sign-out", headers={"X-CSRF-Token": "0" * 64})
    assert refused.status_code == 403 and 'data-code="csrf_failed"' in refused.text
    assert client.post("/console/sign-out").status_code == 403
    done = client.post("/console/sign-out", headers={"X-CSRF-Token": token})
    assert done.status_code == 204


def test_an_operator_key_sees_every_tenant_read_only_and_nothing_else(
    client: TestClient, db: Session, settings: Settings
) -> None:
    first, first_key = tenant_with_key()
    second, _ = tenant_with_key()
    job_id = _finished_job(settings, first.id)
    JobFactory(tenant_id=second.id, status="queued")
    operator_key = create_operator_key(db)

    # The tenant API never accepts an operator key.
    assert (
        client.get("/v1/jobs", headers={"Authorization": f"Bearer {operator_key}"}).status_code
        == 401
    )

    answer = client.post("/console/sign-in", data={"api_key": operator_key}, follow_redirects=False)
    assert answer.headers["location"] == "/console/fleet"
    fleet = client.get("/console/fleet")
    assert fleet.status_code == 200
    for tenant in (first, second):
        assert f'data-tenant="{tenant.name}"' in fleet.text
    assert "0.004950 USD" in fleet.text  # the first tenant's usage record
    # Tenant pages and actions are not the operator's.
    assert client.get(f"/console/jobs/{job_id}").status_code == 403
    assert client.get("/console/costs").status_code == 403

    client.cookies.clear()
    _sign_in(client, first_key)
    assert client.get("/console/fleet").status_code == 404

    # A revoked operator key signs in no more, and its session ends with it.
    client.cookies.clear()
    _sign_in(client, operator_key)
    revoke_key(db, str(db.scalars(select(ApiKey).where(ApiKey.operator)).one().id))
    db.flush()
    assert client.get("/console/fleet", follow_redirects=False).status_code == 303
    assert client.post("/console/sign-in", data={"api_key": operator_key}).status_code == 401


def test_costs_page_charts_usage_by_target_and_serves_its_csv(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key()
    _finished_job(settings, tenant.id, target="en")
    _finished_job(settings, tenant.id, target="de")
    _sign_in(client, key)
    page = client.get("/console/costs?grain=month&stack=target_lang")
    assert page.status_code == 200
    data = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page.text)
    assert data is not None
    assert '"label": "de"' in data.group(1) and '"label": "en"' in data.group(1)
    csv = client.get("/console/costs.csv?grain=month&stack=target_lang")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    bad = client.get("/console/costs?stack=colour")
    assert bad.status_code == 422 and 'data-code="invalid_group_by"' in bad.text


def test_static_files_stay_inside_their_folder(client: TestClient, tmp_path: Path) -> None:
    assert client.get("/console/static/vendor/htmx.min.js").status_code == 200
    assert client.get("/console/static/../auth.py").status_code == 404
    assert client.get("/console/static/%2e%2e/auth.py").status_code == 404


def test_the_batch_page_cancels_through_the_api_s_own_endpoint(
    client: TestClient, db: Session
) -> None:
    tenant, key = tenant_with_key()
    submitted = client.post(
        "/v1/batches",
        json={
            "sources": [f"s3://media/{tenant.name}/a.mp3", f"s3://media/{tenant.name}/b.mp3"],
            "target_langs": ["en"],
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert submitted.status_code == 202, submitted.text
    batch_id = submitted.json()["id"]
    token = _sign_in(client, key)
    page = client.get(f"/console/batches/{batch_id}")
    assert page.status_code == 200 and 'id="cancel-batch"' in page.text

    cancelled = client.post(
        f"/console/batches/{batch_id}/cancel",
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert cancelled.status_code == 200
    assert (
        "Cancelled the batch" in cancelled.text and 'id="batch-status">cancelled' in cancelled.text
    )
    batch = client.get(f"/v1/batches/{batch_id}", headers={"Authorization": f"Bearer {key}"})
    assert batch.json()["status"] == "cancelled"
    assert batch.json()["counts"]["cancelled"] == 2

    # The API refuses to retry a cancelled batch; its refusal shows in place, with its code.
    retry = client.post(
        f"/console/batches/{batch_id}/retry-failed",
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert retry.status_code == 200  # htmx swaps 2xx answers only; the fragment says why
    assert 'data-code="not_retryable"' in retry.text
    assert retry.headers["HX-Retarget"] == "#console-message"


def test_the_job_list_filters_as_the_api_does(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key()
    english = _finished_job(settings, tenant.id, target="en")
    german = JobFactory(tenant_id=tenant.id, target_lang="de", labels={"customer": "initech"})
    _sign_in(client, key)

    def listed(query: str) -> set[str]:
        page = client.get(f"/console/jobs?{query}")
        assert page.status_code == 200, page.text
        return set(re.findall(r'href="/console/jobs/([0-9a-f-]{36})"', page.text))

    assert listed("") == {str(english), str(german.id)}
    assert listed("status=succeeded") == {str(english)}
    assert listed("target=de") == {str(german.id)}
    assert listed("label=customer:initech") == {str(german.id)}
    assert listed("from=2000-01-01&to=2000-01-02") == set()
    assert 'data-code="invalid_label_filter"' in client.get("/console/jobs?label=nolabel").text
    assert 'data-code="invalid_date"' in client.get("/console/jobs?from=yesterday").text


def test_a_deleted_job_s_page_shows_and_serves_no_outputs(
    client: TestClient, db: Session, settings: Settings
) -> None:
    tenant, key = tenant_with_key()
    job_id = _finished_job(settings, tenant.id)
    # Marked deleted; the worker has not removed the files yet.
    job = db.get_one(Job, job_id)
    job.deleted_at = job.purge_started_at = datetime.now(UTC)
    db.flush()
    _sign_in(client, key)

    page = client.get(f"/console/jobs/{job_id}")

    assert page.status_code == 200
    assert 'class="cue' not in page.text
    assert f"/console/jobs/{job_id}/outputs/srt" not in page.text
    assert client.get(f"/console/jobs/{job_id}/outputs/srt").status_code == 404
