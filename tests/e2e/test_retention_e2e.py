"""Retention through the running service: a job deleted through the API, and a job past
its tenant's retention expired by the beat, lose every object written for them while
their source and their books stay."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from ltb.storage import ObjectRef

from e2e_support import Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.processes import BIN


def _objects(service_env: ServiceEnv, tenant: str, job: dict[str, Any]) -> set[str]:
    """What the service wrote for the job: its output folder and its work folder."""
    found = set()
    for folder in (
        f"s3://ltb-outputs/{tenant}/{job['id']}/",
        f"s3://ltb-outputs/_work/{job['id']}/",
    ):
        found |= {item.ref.uri for item in service_env.store.list(ObjectRef.parse(folder))}
    return found


def _ltb(service_env: ServiceEnv, *args: str) -> None:
    done = subprocess.run(
        [str(BIN / "ltb"), *args],
        env=service_env.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_deleted_and_expired_jobs_lose_their_objects_and_keep_their_books(
    service: Service, service_env: ServiceEnv, tenant: tuple[str, str], media: MediaLibrary
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    deleted = client.wait(client.submit(source_uri=source, target_lang="en")["id"])
    expiring = client.wait(client.submit(source_uri=source, target_lang="de")["id"])
    assert deleted["status"] == expiring["status"] == "succeeded", (deleted, expiring)
    for job in (deleted, expiring):
        assert _objects(service_env, name, job), "the job wrote its outputs"
    usage_before = client.http.get(f"/v1/jobs/{deleted['id']}").json()["usage"]

    response = client.http.delete(f"/v1/jobs/{deleted['id']}")
    assert response.status_code == 202, response.text
    gone = client.wait(deleted["id"], check=lambda job: job["outputs_expired_at"] is not None)

    assert gone["outputs"] == [] and gone["deleted_at"] is not None
    assert gone["usage"] == usage_before
    assert _objects(service_env, name, deleted) == set()
    assert service_env.store.exists(ObjectRef.parse(source))
    # The other job of the same source keeps everything.
    assert _objects(service_env, name, expiring)
    assert len(client.job(expiring["id"])["outputs"]) == 3

    # A week's retention, and a job that finished eight days ago: the beat expires it.
    _ltb(service_env, "tenants", "update", name, "--retention-days", "7")
    with psycopg.connect(service_env.database_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE jobs SET finished_at = %s WHERE id = %s",
            (datetime.now(UTC) - timedelta(days=8), expiring["id"]),
        )
    expired = client.wait(expiring["id"], check=lambda job: job["outputs_expired_at"] is not None)

    assert expired["outputs"] == [] and expired["deleted_at"] is None
    assert _objects(service_env, name, expiring) == set()
    assert service_env.store.exists(ObjectRef.parse(source))
