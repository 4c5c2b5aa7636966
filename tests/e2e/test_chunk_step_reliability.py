"""The chunk step under storage faults, shutdowns and sources that change: a reply the
provider sent is never requested again, transient faults are retried in the task, and a
chunk is cut only from the bytes that were planned.

These tests start their own workers with their own settings, so they run against a
database and a Redis of their own: the shared service's workers never take their tasks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from ltb.buckets import PROBE_KEY
from ltb.storage import ObjectRef

from e2e_support import Service, ServiceEnv, upload
from support.flaky_proxy import flaky_proxy
from support.library import MediaLibrary
from support.media import speech_timeline, write_audio
from support.postgres import fresh_database
from support.processes import BIN, free_port, running
from support.redis_server import redis_server
from support.s3 import dummy_session
from support.translate_checks import assert_books_balance, ledger_kinds

MISSING_BUCKET = "ltb-no-such-bucket"


def ltb(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ltb"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def own_env(
    service_env: ServiceEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceEnv]:
    """The shared S3 server and emulator, with a database and a broker of our own."""
    with (
        fresh_database("chunks") as database_url,
        redis_server(tmp_path_factory.mktemp("redis-chunks")) as redis,
    ):
        home = tmp_path_factory.mktemp("ltb-home-chunks")
        env = service_env.env | {
            "LTB_HOME": str(home),
            "LTB_DATABASE_URL": database_url,
            "LTB_BROKER_URL": redis.url,
            "LTB_SCRATCH_DIR": str(home / "scratch"),
        }
        yield dataclasses.replace(service_env, env=env, redis=redis, database_url=database_url)


@pytest.fixture(scope="module")
def api(own_env: ServiceEnv) -> Iterator[Service]:
    """The API alone, without workers or beat: each test starts the ones it needs."""
    port = free_port()
    service = Service(env=own_env, api_url=f"http://127.0.0.1:{port}")
    with service.stack:
        service.stack.enter_context(
            running(
                [
                    *(str(BIN / "ltb"), "api", "--port", str(port)),
                    # A listener of its own: the default port may be another test's.
                    *("--metrics-port", str(free_port())),
                ],
                ready_url=f"{service.api_url}/healthz",
                env=own_env.env,
                log_path=own_env.logs / "api-chunks.log",
            )
        )
        yield service


@pytest.fixture
def own_tenant(own_env: ServiceEnv, request: pytest.FixtureRequest) -> tuple[str, str]:
    name = "c-" + request.node.name.lower()[5:35].replace("_", "-").rstrip("-")
    name += "-" + os.urandom(3).hex()
    ltb(own_env.env, "tenants", "create", name, "--allow", f"s3://media/{name}/")
    return name, ltb(own_env.env, "keys", "create", "--tenant", name)


@pytest.fixture
def emulator_reset(own_env: ServiceEnv) -> Iterator[None]:
    own_env.emulator.reset()
    yield
    own_env.emulator.configure(realtime_factor=0.0, moderation=0.0, seed=0)


@contextmanager
def worker(
    env: ServiceEnv, name: str, *, beat: bool = False, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`ltb worker` with extra LTB_* settings, in its own process group."""
    args = [str(BIN / "ltb"), "worker", "--loglevel", "info", *(["--beat"] if beat else [])]
    with running(
        args, env=env.env | settings, log_path=env.logs / f"worker-chunks-{name}.log"
    ) as process:
        yield process


@contextmanager
def worker_whose_work_bucket_vanishes(
    env: ServiceEnv, name: str, **settings: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker that started with its work bucket present (it refuses to start without
    one), whose bucket is then deleted: the run-time failure, not the start-up check."""
    s3 = dummy_session().client("s3", endpoint_url=env.env["LTB_S3_ENDPOINT_URL"])
    s3.create_bucket(Bucket=MISSING_BUCKET)
    probe = f"_work/{PROBE_KEY}"
    with worker(env, name, LTB_WORK_PREFIX=f"s3://{MISSING_BUCKET}/_work/", **settings) as process:
        poll(
            lambda: s3.list_objects_v2(Bucket=MISSING_BUCKET, Prefix=probe).get("KeyCount"),
            timeout_s=60,
            what="the worker's start-up check of its work bucket",
        )
        s3.delete_object(Bucket=MISSING_BUCKET, Key=probe)
        s3.delete_bucket(Bucket=MISSING_BUCKET)
        yield process


def chunk_rows(env: ServiceEnv, job_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(env.database_url) as connection:
        cursor = connection.execute(
            "SELECT idx, status, attempts, lease_owner, result_audio_uri FROM chunks"
            " WHERE job_id = %s ORDER BY idx",
            (job_id,),
        )
        names = [c.name for c in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def usage_outcomes(env: ServiceEnv, job_id: str) -> list[str]:
    with psycopg.connect(env.database_url) as connection:
        rows = connection.execute(
            "SELECT outcome FROM usage_records WHERE job_id = %s", (job_id,)
        ).fetchall()
    return [str(outcome) for (outcome,) in rows]


def billed(env: ServiceEnv) -> list[dict[str, Any]]:
    return [e for e in env.emulator.ledger() if sum(ledger_kinds(e).values()) > 0]


def poll(condition: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.1)


# --- item: a received reply is never requested again ------------------------------------


def test_a_chunk_whose_work_bucket_is_missing_is_requested_once_and_its_dub_kept(
    api: Service,
    own_env: ServiceEnv,
    own_tenant: tuple[str, str],
    media: MediaLibrary,
    emulator_reset: None,
) -> None:
    """The reply (text and dub audio) is stored with the chunk in one transaction: no
    upload sits between "received" and "done" that could make the chunk be claimed again."""
    name, key = own_tenant
    client = api.client(key)
    source = upload(own_env, name, media.speech_mp3)
    with worker_whose_work_bucket_vanishes(own_env, "missing-work"):
        job = client.submit(source_uri=source, target_lang="en", outputs=["text", "wav"])
        done = client.wait(job["id"], timeout_s=120)
    assert done["status"] == "succeeded", done
    chunks = chunk_rows(own_env, job["id"])
    assert chunks and all(c["attempts"] == 1 for c in chunks), chunks
    assert len(billed(own_env)) == len(chunks)
    wav = next(o for o in done["outputs"] if o["kind"] == "wav")
    dub = own_env.store.get_bytes(ObjectRef.parse(wav["uri"]), max_bytes=50_000_000)
    assert dub[:4] == b"RIFF" and len(dub) > 48_000


def test_a_payload_upload_to_a_missing_work_bucket_fails_the_job_before_any_request(
    api: Service,
    own_env: ServiceEnv,
    own_tenant: tuple[str, str],
    media: MediaLibrary,
    emulator_reset: None,
) -> None:
    name, key = own_tenant
    client = api.client(key)
    source = upload(own_env, name, media.speech_mp3)
    with worker_whose_work_bucket_vanishes(own_env, "missing-payload", LTB_PAYLOAD_DELIVERY="url"):
        job = client.submit(source_uri=source, target_lang="en")
        failed = client.wait(job["id"], timeout_s=60)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "output_bucket_missing", failed["error"]
    assert own_env.emulator.ledger() == []


# --- item: shutdowns --------------------------------------------------------------------


def test_sigterm_to_the_process_group_mid_chunk_finishes_the_stream_then_exits(
    api: Service,
    own_env: ServiceEnv,
    own_tenant: tuple[str, str],
    media: MediaLibrary,
    emulator_reset: None,
) -> None:
    """The pool's children get the SIGTERM too; the streams in flight are paid for, so
    they finish, and then the whole worker (beat included) exits."""
    name, key = own_tenant
    client = api.client(key)
    source = upload(own_env, name, media.speech_mp3)
    own_env.emulator.configure(realtime_factor=0.6)
    with worker(own_env, "group-term-mid", beat=True) as process:
        job = client.submit(source_uri=source, target_lang="en")
        own_env.wait_for_chunks(job["id"], lambda c: "running" in c.values())
        in_flight = {i for i, s in own_env.chunks(job["id"]).items() if s == "running"}
        os.killpg(process.pid, signal.SIGTERM)
        poll(lambda: process.poll() is not None, timeout_s=30, what="the worker's exit")
    after = own_env.chunks(job["id"])
    assert all(after[i] == "done" for i in in_flight), (in_flight, after)
    assert "pending" not in usage_outcomes(own_env, job["id"])
    # Its other chunks must not be taken by the next test's workers.
    assert client.http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200


# --- item: a chunk is cut only from the bytes that were planned -----------------------------


@contextmanager
def planner(env: ServiceEnv, name: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker that takes plan messages only: the chunks wait for another worker."""
    args = [
        str(BIN / "celery"),
        "-A",
        "worker.tasks",
        "worker",
        "--queues=ltb",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=info",
    ]
    with running(args, env=env.env, log_path=env.logs / f"planner-{name}.log") as process:
        yield process


def test_a_source_replaced_after_planning_fails_the_job_as_source_changed_unsent(
    api: Service,
    own_env: ServiceEnv,
    own_tenant: tuple[str, str],
    media: MediaLibrary,
    emulator_reset: None,
    tmp_path: Path,
) -> None:
    name, key = own_tenant
    client = api.client(key)
    # Bytes no other test uses, so no worker's cache can hold them under their hash.
    lead_s = 0.5 + int.from_bytes(os.urandom(2), "big") / 1e6
    planned = write_audio(tmp_path / "planned.wav", speech_timeline([lead_s, "en_0.flac", 0.8]))
    source = upload(own_env, name, planned, name="talk.wav")
    with planner(own_env, "source-changed"):
        job = client.submit(source_uri=source, target_lang="en")
        client.wait(job["id"], check=lambda j: j["stage"] == "translating", timeout_s=60)
    # Another file under the same key, and a worker whose cache never held the planned one.
    upload(own_env, name, media.speech_wav, name="talk.wav")
    with worker(own_env, "source-changed", LTB_SCRATCH_DIR=str(tmp_path / "scratch")):
        failed = client.wait(job["id"], timeout_s=60)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "source_changed", failed["error"]
    assert own_env.emulator.ledger() == []


def pending_usage(env: ServiceEnv, job_id: str) -> bool:
    return "pending" in usage_outcomes(env, job_id)


def test_a_warm_shutdown_past_its_grace_hands_the_chunk_back_at_once(
    api: Service,
    own_env: ServiceEnv,
    own_tenant: tuple[str, str],
    media: MediaLibrary,
    emulator_reset: None,
) -> None:
    """SIGTERM to the main process alone, as `docker stop` sends it: the stream in flight
    may run for LTB_WARM_SHUTDOWN_S, then its chunk is pending again (not waiting out its
    lease), the cut request is booked, the worker exits, and the next worker finishes."""
    name, key = own_tenant
    client = api.client(key)
    source = upload(own_env, name, media.speech_mp3)
    # A 6 s chunk streams for 18 s: far longer than the grace.
    own_env.emulator.configure(realtime_factor=3.0)
    with worker(own_env, "grace", LTB_WARM_SHUTDOWN_S="1") as process:
        job = client.submit(source_uri=source, target_lang="en", outputs=["text", "wav"])
        poll(lambda: pending_usage(own_env, job["id"]), timeout_s=60, what="a request in flight")
        started = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        poll(lambda: process.poll() is not None, timeout_s=15, what="the worker's exit")
        assert time.monotonic() - started < 15
    chunks = chunk_rows(own_env, job["id"])
    assert all(c["status"] == "pending" and c["lease_owner"] is None for c in chunks), chunks
    assert not pending_usage(own_env, job["id"])
    own_env.emulator.configure(realtime_factor=0.0)
    with worker(own_env, "after-grace"):
        done = client.wait(job["id"], timeout_s=120)
    assert done["status"] == "succeeded", done
    manifest_url = next(o["url"] for o in done["outputs"] if o["kind"] == "manifest")
    manifest = json.loads(httpx.get(manifest_url).content)
    assert_books_balance(manifest, own_env.emulator.ledger())


# --- item: transient faults are retried in the task ---------------------------------------


def test_a_storage_outage_in_a_chunk_is_retried_in_the_task_not_left_to_the_lease(
    api: Service,
    own_env: ServiceEnv,
    own_tenant: tuple[str, str],
    media: MediaLibrary,
    emulator_reset: None,
    tmp_path: Path,
) -> None:
    """The chunk's worker must fetch the source while storage drops every connection: it
    retries in the task with backoff, and no chunk is claimed twice."""
    name, key = own_tenant
    client = api.client(key)
    source = upload(own_env, name, media.speech_mp3)
    with planner(own_env, "outage"):
        job = client.submit(source_uri=source, target_lang="en")
        client.wait(job["id"], check=lambda j: j["stage"] == "translating", timeout_s=60)
    s3_port = int(own_env.env["LTB_S3_ENDPOINT_URL"].rsplit(":", 1)[1])
    log = own_env.logs / "worker-chunks-outage.log"
    with flaky_proxy(s3_port) as proxy:
        proxy.down.set()
        with worker(
            own_env,
            "outage",
            LTB_S3_ENDPOINT_URL=proxy.url,
            LTB_SCRATCH_DIR=str(tmp_path / "scratch"),
            LTB_TASK_RETRY_BASE_S="0.5",
            LTB_TASK_RETRY_MAX_S="2",
            LTB_TASK_RETRY_ATTEMPTS="20",
        ):
            # Storage stays down until the fault has reached the chunk step itself.
            poll(
                lambda: log.exists() and "failed (storage_error" in log.read_text(errors="replace"),
                timeout_s=90,
                what="a storage error retried in the task",
            )
            proxy.down.clear()
            done = client.wait(job["id"], timeout_s=120)
    assert done["status"] == "succeeded", done
    chunks = chunk_rows(own_env, job["id"])
    assert all(c["attempts"] == 1 for c in chunks), chunks
    assert len(billed(own_env)) == len(chunks)
