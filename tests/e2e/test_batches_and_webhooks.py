"""A library over an S3 prefix into three languages, with signed webhooks; and webhooks
that survive a receiver that is down."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest

from ltb.webhooks import verify

from e2e_support import Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.processes import BIN
from support.webhook_receiver import receiver


def webhook_secret(service_env: ServiceEnv, tenant_name: str) -> str:
    done = subprocess.run(
        [str(BIN / "ltb"), "tenants", "show", tenant_name],
        env=service_env.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)["webhook_secret"]


def analysis_runs(service_env: ServiceEnv, tenant_name: str) -> list[int]:
    with psycopg.connect(service_env.database_url) as connection:
        rows = connection.execute(
            "SELECT a.runs FROM source_analyses a JOIN tenants t ON t.id = a.tenant_id WHERE t.name = %s",
            (tenant_name,),
        ).fetchall()
    return [int(runs) for (runs,) in rows]


def test_a_three_language_batch_over_a_prefix_completes_with_signed_webhooks(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    upload(service_env, name, media.speech_mp3, name="library/talk.mp3")
    upload(service_env, name, media.subsecond_wav, name="library/yes.wav")
    upload(
        service_env, name, media.silence_wav, name="library/notes.txt"
    )  # not media: skipped by extension
    with receiver() as hook:
        response = client.http.post(
            "/v1/batches",
            json={
                "source_prefix": f"s3://media/{name}/library/",
                "target_langs": ["en", "de", "ja"],
                "labels": {"customer": "acme"},
                "callback_url": hook.url,
            },
            headers={"Idempotency-Key": "library-2026"},
        )
        assert response.status_code == 202, response.text
        batch = response.json()
        assert batch["jobs_total"] == 6
        deliveries = hook.wait_for(7, timeout_s=180)
    done = client.http.get(f"/v1/batches/{batch['id']}").json()
    assert done["status"] == "completed", done
    assert done["counts"]["succeeded"] == 6
    assert {lang: counts["succeeded"] for lang, counts in done["by_target"].items()} == {
        "en": 2,
        "de": 2,
        "ja": 2,
    }
    assert done["usage"]["requests"] >= 6 and done["usage"]["cost"] > 0

    # Each source was probed and mapped once, whatever its three targets.
    assert analysis_runs(service_env, name) == [1, 1]

    # Seven signed events: six job.succeeded, then batch.completed; each verifies.
    secret = webhook_secret(service_env, name)
    kinds = sorted(d.headers["LTB-Event"] for d in deliveries)
    assert kinds == ["batch.completed"] + ["job.succeeded"] * 6
    assert len({d.headers["LTB-Event-Id"] for d in deliveries}) == 7
    for delivery in deliveries:
        assert verify(secret, delivery.headers["LTB-Signature"], delivery.body)
        assert not verify(
            "another-tenants-secret", delivery.headers["LTB-Signature"], delivery.body
        )
    # The body is what GET would return.
    completed = next(d for d in deliveries if d.headers["LTB-Event"] == "batch.completed").json
    assert completed["id"] == batch["id"] and completed["counts"]["succeeded"] == 6
    job_body = next(d for d in deliveries if d.headers["LTB-Event"] == "job.succeeded").json
    fresh = client.job(job_body["id"])
    assert {k: v for k, v in job_body.items() if k != "outputs"} == {
        k: v for k, v in fresh.items() if k != "outputs"
    }
    assert [o["uri"] for o in job_body["outputs"]] == [o["uri"] for o in fresh["outputs"]]

    # The same Idempotency-Key and body: the same batch, no new jobs.
    again = client.http.post(
        "/v1/batches",
        json={
            "source_prefix": f"s3://media/{name}/library/",
            "target_langs": ["en", "de", "ja"],
            "labels": {"customer": "acme"},
            "callback_url": hook.url,
        },
        headers={"Idempotency-Key": "library-2026"},
    )
    assert again.json()["id"] == batch["id"]


def test_webhooks_are_retried_while_the_receiver_is_down_and_failing(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.subsecond_wav)
    with receiver(start=False, failures=2) as hook:
        job = client.submit(source_uri=source, target_lang="fr", callback_url=hook.url)
        client.wait(job["id"])
        # The receiver is down: wait until a delivery has failed against it for real...
        _wait_for_attempts(service_env, job["id"], 1)
        # ...then it comes up, answers 503 twice, and accepts.
        hook.start()
        (delivery,) = hook.wait_for(1, timeout_s=60)
    assert len(hook.refused) == 2
    assert delivery.headers["LTB-Event"] == "job.succeeded"
    assert verify(
        webhook_secret(service_env, name), delivery.headers["LTB-Signature"], delivery.body
    )
    with psycopg.connect(service_env.database_url) as connection:
        event_id, attempts, status = connection.execute(
            "SELECT id, attempts, status FROM webhook_events WHERE subject_id = %s", (job["id"],)
        ).fetchone()
    assert status == "delivered" and attempts >= 4  # down at least once, 503 twice, then 2xx
    # Every attempt is the same event: receivers de-duplicate on its id.
    assert {d.headers["LTB-Event-Id"] for d in [*hook.refused, delivery]} == {str(event_id)}


def _wait_for_attempts(
    service_env: ServiceEnv, subject_id: str, attempts: int, timeout_s: float = 60.0
) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(service_env.database_url) as connection:
            row = connection.execute(
                "SELECT attempts FROM webhook_events WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        if row and row[0] >= attempts:
            return
        time.sleep(0.1)
    raise AssertionError(f"no failed delivery attempt for {subject_id} within {timeout_s} s")


@pytest.mark.parametrize("hook_url", ["http://127.0.0.2:9/hook", "http://[::1]:9/hook"])
def test_private_callbacks_are_accepted_when_configuration_allows_them(
    service: Service, tenant: tuple[str, str], hook_url: str
) -> None:
    # This service allows private callbacks (LTB_WEBHOOK_ALLOW_PRIVATE for the test receiver);
    # the refusal itself is covered where it is off, in tests/api/test_batches_api.py.
    # Loopback URLs only: the job ends (it has no source) and the workers really send its
    # webhook. Private ranges are accepted in tests/api/test_batches_api.py, where nothing
    # is sent.
    name, key = tenant
    response = service.client(key).http.post(
        "/v1/jobs",
        json={
            "source_uri": f"s3://media/{name}/x.mp3",
            "target_lang": "en",
            "callback_url": hook_url,
        },
    )
    assert response.status_code == 202
