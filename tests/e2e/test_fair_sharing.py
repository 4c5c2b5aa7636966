"""Fair sharing through the whole service: a small tenant's one job does not wait behind a
big tenant's backlog; it is admitted at the next free slot and finishes while the big
tenant's chunks still wait in Postgres."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator

import psycopg
import pytest

from e2e_support import Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.processes import BIN

BIG_JOBS = 8


@pytest.fixture
def narrow_service(service_env: ServiceEnv) -> Iterator[Service]:
    """One worker and a window of two chunks in flight, so a backlog forms in Postgres."""
    env = dataclasses.replace(
        service_env, env={**service_env.env, "LTB_DISPATCH_WINDOW_CHUNKS": "2"}
    )
    with Service.running(env, workers=1, name="fair") as running:
        yield running


@pytest.fixture
def second_tenant(service_env: ServiceEnv) -> tuple[str, str]:
    name = "t-small-" + os.urandom(3).hex()
    ltb(service_env.env, "tenants", "create", name, "--allow", f"s3://media/{name}/")
    return name, ltb(service_env.env, "keys", "create", "--tenant", name)


def ltb(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ltb"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _waiting_chunks(service_env: ServiceEnv, tenant_name: str) -> int:
    with psycopg.connect(service_env.database_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM chunks c JOIN tenants t ON t.id = c.tenant_id "
            "WHERE t.name = %s AND c.status = 'pending' AND c.admitted_at IS NULL",
            (tenant_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_small_tenants_job_finishes_while_a_big_tenants_backlog_is_still_queued(
    narrow_service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    second_tenant: tuple[str, str],
) -> None:
    big_name, big_key = tenant
    small_name, small_key = second_tenant
    big, small = narrow_service.client(big_key), narrow_service.client(small_key)
    big_source = upload(service_env, big_name, media.speech_mp3)
    big_jobs = [big.submit(source_uri=big_source, target_lang="en") for _ in range(BIG_JOBS)]
    # The backlog is planned and waits, pending, for its turn.
    big.wait(big_jobs[-1]["id"], check=lambda job: job["progress"]["chunks_total"] > 0)
    assert _waiting_chunks(service_env, big_name) > 0

    small_source = upload(service_env, small_name, media.speech_mp3)
    small_job = small.submit(source_uri=small_source, target_lang="en")
    done = small.wait(small_job["id"], timeout_s=180)

    assert done["status"] == "succeeded", done
    assert done["eta_s"] == 0.0
    assert _waiting_chunks(service_env, big_name) > 0, "the small job waited for the backlog"
    for job in big_jobs:  # the backlog still completes
        assert big.wait(job["id"], timeout_s=240)["status"] == "succeeded"
