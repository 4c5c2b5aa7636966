"""The service under the failures it must survive: workers killed mid-stream, Redis
restarted, jobs cancelled mid-run and failed jobs retried. Nothing is lost and nothing
finished is paid for twice."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest

from e2e_support import Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.translate_checks import assert_books_balance, ledger_kinds

# With moderation at 0.5, seed 352's first draw is clean and the next seven are not:
# exactly one request gets through, whichever chunk sends it.
ONE_CLEAN_THEN_REJECTED_SEED = 352


@pytest.fixture
def slow_provider(service_env: ServiceEnv) -> Iterator[None]:
    """Streams last 0.6x their media's duration, so there is time to act mid-job."""
    service_env.emulator.reset()
    service_env.emulator.configure(realtime_factor=0.6)
    yield
    service_env.emulator.configure(realtime_factor=0.0, moderation=0.0, seed=0)


def manifest_of(done: dict) -> dict:
    url = next(o["url"] for o in done["outputs"] if o["kind"] == "manifest")
    return json.loads(httpx.get(url).content)


def billed_requests_by_chunk(manifest: dict, ledger: list[dict]) -> dict[int, int]:
    """How many billed provider requests each chunk cost."""
    chunk_of = {r["request_id"]: r["chunk_index"] for r in manifest["requests"] if r["request_id"]}
    chunk_of |= {r["id"]: r["chunk_index"] for r in manifest["requests"]}
    counts: dict[int, int] = defaultdict(int)
    for entry in ledger:
        if sum(ledger_kinds(entry).values()) > 0:
            chunk = chunk_of.get(
                entry["request_id"], chunk_of.get(entry.get("client_request_id") or "")
            )
            assert chunk is not None, entry
            counts[chunk] += 1
    return counts


def test_sigkill_of_every_worker_mid_job_loses_nothing_and_pays_twice_only_for_chunks_in_flight(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    slow_provider: None,
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    job = client.submit(source_uri=source, target_lang="en", outputs=["text", "srt", "wav"])
    at_kill = service_env.wait_for_chunks(job["id"], lambda c: "running" in c.values())
    service.kill_workers()
    in_flight = {
        idx for idx, status in service_env.chunks(job["id"]).items() if status == "running"
    }
    assert in_flight, at_kill
    service.add_worker("after-kill")
    done = client.wait(job["id"], timeout_s=120)
    assert done["status"] == "succeeded", done
    manifest = manifest_of(done)
    ledger = service_env.emulator.ledger()
    assert_books_balance(manifest, ledger)
    twice = {idx for idx, count in billed_requests_by_chunk(manifest, ledger).items() if count > 1}
    assert twice <= in_flight, (twice, in_flight)
    # The dead worker's open records were closed at an upper bound, never left pending.
    assert all(r["outcome"] != "pending" for r in manifest["requests"])


def test_a_redis_restart_mid_run_loses_queued_work_that_the_reaper_sends_again(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    slow_provider: None,
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    jobs = [
        client.submit(source_uri=source, target_lang=lang)["id"]
        for lang in ("en", "de", "fr", "es")
    ]
    service_env.wait_for_chunks(jobs[0], lambda c: "running" in c.values())
    # Redis runs without persistence here: every queued message is gone after the restart.
    service_env.redis.stop()
    service_env.redis.start()
    finished = [client.wait(job_id, timeout_s=180) for job_id in jobs]
    assert [j["status"] for j in finished] == ["succeeded"] * 4, finished
    ledger = service_env.emulator.ledger()
    for done in finished:
        manifest = manifest_of(done)
        ours = {r["request_id"] for r in manifest["requests"]}
        assert_books_balance(manifest, [e for e in ledger if e["request_id"] in ours])


def test_cancel_mid_run_starts_no_new_chunk_and_records_the_ones_in_flight(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    slow_provider: None,
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    job = client.submit(source_uri=source, target_lang="it")
    service_env.wait_for_chunks(job["id"], lambda c: "running" in c.values())
    cancelled = client.http.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    started = {i for i, s in service_env.chunks(job["id"]).items() if s in ("running", "done")}
    settled = service_env.wait_for_chunks(job["id"], lambda c: "running" not in c.values())
    assert {i for i, s in settled.items() if s == "cancelled"}.isdisjoint(started)
    assert client.job(job["id"])["status"] == "cancelled"
    # Every request the provider saw belongs to a chunk that had started before the cancel.
    view = client.job(job["id"])
    assert view["usage"]["requests"] == len(service_env.emulator.ledger())
    assert view["usage"]["requests"] <= len(started)


def test_retry_redoes_only_the_chunks_that_are_not_done(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    slow_provider: None,
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    service_env.emulator.configure(
        moderation=0.5, seed=ONE_CLEAN_THEN_REJECTED_SEED, realtime_factor=0.2
    )
    job = client.submit(source_uri=source, target_lang="pt")
    failed = client.wait(job["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "provider_rejected"
    service_env.wait_for_chunks(job["id"], lambda c: "running" not in c.values())
    done_before = {i for i, s in service_env.chunks(job["id"]).items() if s == "done"}
    assert len(done_before) == 1
    service_env.emulator.configure(moderation=0.0)
    retried = client.http.post(f"/v1/jobs/{job['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    done = client.wait(job["id"])
    assert done["status"] == "succeeded", done
    manifest = manifest_of(done)
    ledger = service_env.emulator.ledger()
    assert_books_balance(manifest, ledger)
    (finished_chunk,) = done_before
    assert billed_requests_by_chunk(manifest, ledger)[finished_chunk] == 1


def test_a_warm_shutdown_finishes_the_chunks_in_flight(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    slow_provider: None,
) -> None:
    name, key = tenant
    client = service.client(key)
    source = upload(service_env, name, media.speech_mp3)
    job = client.submit(source_uri=source, target_lang="es")
    service_env.wait_for_chunks(job["id"], lambda c: "running" in c.values())
    in_flight = {i for i, s in service_env.chunks(job["id"]).items() if s == "running"}
    service.stop_workers_warmly()
    # Every chunk in flight at the SIGTERM was finished, not abandoned to the reaper.
    after = service_env.chunks(job["id"])
    assert all(after[i] == "done" for i in in_flight), after
    service.add_worker("after-warm-shutdown")
    done = client.wait(job["id"], timeout_s=120)
    assert done["status"] == "succeeded"
    manifest = manifest_of(done)
    ledger = service_env.emulator.ledger()
    assert_books_balance(manifest, ledger)
    assert all(count == 1 for count in billed_requests_by_chunk(manifest, ledger).values())
