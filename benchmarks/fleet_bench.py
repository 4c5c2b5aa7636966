"""The fleet benchmark (issues 5 and 6): the whole service as real processes.

- quota_saturation: 200 jobs of 30 s of speech (text + srt) through 4 worker processes
  against the emulator at 100 requests and 100,000 tokens per minute, real-time factor
  0.2. The account quota, not the fleet, must be what limits throughput.
- naive_speedup: the fleet's files per minute over a plain sequential loop of the
  official SDK (the seeds' shape) on the first 20 of the same files.
- api_latency_ms: 100 concurrent clients, each submitting jobs and polling them at a
  polling client's pace, while the fleet runs; three runs (`runs`), the median run's
  figures at the top; plus the closed-loop saturation throughput for context.
- usage_report_ms: a month's report, through the API, over a million usage rows.
"""

from __future__ import annotations

import base64
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks._service import (
    api_process,
    beat_process,
    quantile,
    service_env,
    tenant_with_key,
    use_test_support,
    worker_process,
)

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".ltb" / "bench-media" / "fleet"

JOBS = 200
SOURCE_S = 30.0
WORKERS = 4
WORKER_CONCURRENCY = 4
REALTIME_FACTOR = 0.2
RPM, TPM = 100, 100_000
NAIVE_FILES = 20
CLIENTS = 100
CLIENT_PROCESSES = 4
# A polling client's pace: each client sends a request every this many seconds.
CLIENT_INTERVAL_S = 1.0
REQUESTS_PER_CLIENT = 10
USAGE_ROWS = 1_000_000
KEY = "sk-fleet-bench-0000000000000000"


def run() -> dict[str, Any]:
    use_test_support()
    from ltb.storage import ObjectRef

    from support.emulator import start_emulator
    from support.postgres import fresh_database
    from support.processes import free_port
    from support.redis_server import redis_server
    from support.s3 import moto_server, s3_store

    sources = _sources()
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    home = CACHE / "home"
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database("fleet"))
        redis = stack.enter_context(redis_server(CACHE))
        endpoint = stack.enter_context(moto_server())
        emulator = stack.enter_context(
            start_emulator(
                [
                    "--api-key",
                    KEY,
                    "--rpm",
                    str(RPM),
                    "--tpm",
                    str(TPM),
                    "--realtime-factor",
                    str(REALTIME_FACTOR),
                ],
                api_key=KEY,
                log_dir=logs,
            )
        )
        store = s3_store(endpoint, "media", "ltb-outputs")
        for path in sources:
            store.upload_file(path, ObjectRef.parse(f"s3://media/bench/fleet/{path.name}"))
        env = service_env(
            home=home,
            database_url=database,
            broker_url=redis.url,
            s3_endpoint=endpoint,
            provider_base_url=emulator.base_url,
            provider_key=KEY,
            extra={
                "LTB_QUOTA_RPM": str(RPM),
                "LTB_QUOTA_TPM": str(TPM),
                "LTB_REAPER_INTERVAL_S": "5",
            },
        )
        api_key = tenant_with_key(env, "bench", "s3://media/bench/")
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        stack.enter_context(api_process(env, port, logs / "api.log"))
        with ExitStack() as fleet:
            for i in range(WORKERS):
                fleet.enter_context(
                    worker_process(env, logs / f"worker-{i}.log", concurrency=WORKER_CONCURRENCY)
                )
            fleet.enter_context(beat_process(env, logs / "beat.log"))
            saturation = _saturate(api_url, api_key, database, emulator.ledger)
            # Measured while the fleet runs: the workers plan (and fail) the jobs the
            # clients submit, so the API shares the machine and the database with them.
            latency = api_latency(api_url, api_key)
        emulator.reset()
        naive = _naive_loop(sources[:NAIVE_FILES], emulator.base_url)
        report = _usage_report(api_url, api_key, database)
    speedup = saturation.pop("files_per_min") / naive["files_per_min"]
    return {
        "quota_saturation": saturation,
        "naive_speedup": round(speedup, 2),
        "naive_loop": naive,
        "api_latency_ms": latency,
        "usage_report_ms": report,
        "fleet_targets": {
            "max(rpm_fraction, tpm_fraction)": ">= 0.90",
            "rate_limited_share": "< 0.01",
            "naive_speedup": ">= 8",
            "post_p50": "<= 10",
            "post_p99": "< 100",
            "usage_report_ms.p50": "< 200",
        },
    }


# --- quota saturation ---------------------------------------------------------------------


def _saturate(api_url: str, key: str, database: str, ledger: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as http:
        response = http.post(
            "/v1/batches",
            json={
                "source_prefix": "s3://media/bench/fleet/",
                "target_langs": ["en"],
                "outputs": ["text", "srt"],
            },
        )
        response.raise_for_status()
        batch_id = response.json()["id"]
        while True:
            batch = http.get(f"/v1/batches/{batch_id}").json()
            if batch["status"] != "open":
                break
            time.sleep(1.0)
    elapsed_s = time.monotonic() - started
    entries = ledger()
    with psycopg.connect(database) as connection:
        admitted = connection.execute(
            "SELECT created_at, input_audio + input_video + input_text + output_text + output_audio "
            "FROM usage_records ORDER BY created_at"
        ).fetchall()
        latencies = [
            float(s)
            for (s,) in connection.execute(
                "SELECT extract(epoch FROM finished_at - created_at) FROM jobs WHERE batch_id = %s",
                (batch_id,),
            ).fetchall()
        ]
    sustained = _sustained_rates(admitted)
    return {
        "jobs": JOBS,
        "workers": WORKERS,
        "worker_concurrency": WORKER_CONCURRENCY,
        "succeeded": batch["counts"]["succeeded"],
        "requests": len(entries),
        "rpm_fraction": round(sustained["rpm"] / RPM, 3),
        "tpm_fraction": round(sustained["tpm"] / TPM, 3),
        "sustained_minutes": sustained["minutes"],
        "overall_rpm_fraction": round(len(admitted) / (elapsed_s / 60) / RPM, 3),
        "rate_limited_share": round(
            sum(1 for e in entries if e["status"] == 429) / max(1, len(entries)), 4
        ),
        "job_latency_s": {
            "p50": round(quantile(latencies, 0.5), 1),
            "p95": round(quantile(latencies, 0.95), 1),
        },
        "elapsed_s": round(elapsed_s, 1),
        "files_per_min": JOBS / (elapsed_s / 60),
    }


def _sustained_rates(admitted: list[tuple[datetime, int]]) -> dict[str, Any]:
    """Requests and tokens per minute over the whole minutes while the backlog lasted:
    from the first admission, for as many full minutes as fit before the last one."""
    first, last = admitted[0][0], admitted[-1][0]
    minutes = max(1, int((last - first).total_seconds() // 60))
    end = first + timedelta(minutes=minutes)
    inside = [tokens for at, tokens in admitted if at < end]
    return {"rpm": len(inside) / minutes, "tpm": sum(inside) / minutes, "minutes": minutes}


# --- the naive loop ---------------------------------------------------------------------


def _naive_loop(paths: list[Path], base_url: str) -> dict[str, Any]:
    """One file after another through the official SDK, as the provider's own samples do."""
    from openai import OpenAI

    client = OpenAI(api_key=KEY, base_url=base_url)
    started = time.monotonic()
    characters = 0
    for path in paths:
        media = "data:audio/flac;base64," + base64.b64encode(path.read_bytes()).decode()
        # The SDK's types know only OpenAI's audio formats; the provider also takes flac.
        messages: Any = [
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": media, "format": "flac"}}
                ],
            }
        ]
        completion = client.chat.completions.create(
            model="qwen3-livetranslate-flash",
            messages=messages,
            modalities=["text"],
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"translation_options": {"target_lang": "en"}},
        )
        for chunk in completion:
            if chunk.choices and chunk.choices[0].delta.content:
                characters += len(chunk.choices[0].delta.content)
    elapsed_s = time.monotonic() - started
    return {
        "files": len(paths),
        "elapsed_s": round(elapsed_s, 1),
        "files_per_min": len(paths) / (elapsed_s / 60),
        "characters": characters,
    }


# The API latency goal is judged over this many paced runs, each reported on its own.
LATENCY_RUNS = 3


def api_latency(api_url: str, key: str) -> dict[str, Any]:
    """100 clients at once, each submitting jobs and polling them like a real client (one
    request a second) on its own connection, spread over a few processes so the load
    generator's own interpreter lock is not what gets measured; three such runs. Then the
    same clients back to back, for the API's saturation throughput."""

    def crowd(interval_s: float) -> tuple[list[float], list[float], float]:
        per = CLIENTS // CLIENT_PROCESSES
        groups = [(api_url, key, p * per, per, interval_s) for p in range(CLIENT_PROCESSES)]
        started = time.perf_counter()
        with ProcessPoolExecutor(CLIENT_PROCESSES) as pool:
            results = list(pool.map(_client_group, groups))
        elapsed = time.perf_counter() - started
        return [t for r in results for t in r[0]], [t for r in results for t in r[1]], elapsed

    crowd(CLIENT_INTERVAL_S)  # warm up: connections, caches, the planner's statistics
    runs = []
    for _ in range(LATENCY_RUNS):
        posts, gets, paced_s = crowd(CLIENT_INTERVAL_S)
        runs.append(
            {
                "requests_per_s": round((len(posts) + len(gets)) / paced_s, 1),
                "post_p50": round(quantile(posts, 0.5), 1),
                "post_p99": round(quantile(posts, 0.99), 1),
                "get_p50": round(quantile(gets, 0.5), 1),
                "get_p99": round(quantile(gets, 0.99), 1),
            }
        )
    saturated_posts, saturated_gets, saturated_s = crowd(0.0)
    # The headline figures are the median run's (by POST p99).
    median = sorted(runs, key=lambda run: run["post_p99"])[len(runs) // 2]
    return {
        "clients": CLIENTS,
        "client_processes": CLIENT_PROCESSES,
        "client_interval_s": CLIENT_INTERVAL_S,
        **median,
        "runs": runs,
        "closed_loop_requests_per_s": round(
            (len(saturated_posts) + len(saturated_gets)) / saturated_s, 1
        ),
        "closed_loop_post_p50": round(quantile(saturated_posts, 0.5), 1),
    }


def _client_group(args: tuple[str, str, int, int, float]) -> tuple[list[float], list[float]]:
    """One process's share of the clients, one thread and one connection each."""
    api_url, key, first, count, interval_s = args
    posts: list[float] = []
    gets: list[float] = []

    def client(number: int) -> None:
        with httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as http:
            time.sleep(interval_s * number / CLIENTS)  # independent clients do not start in step
            job_id = None
            for i in range(REQUESTS_PER_CLIENT):
                tick = time.perf_counter()
                if i % 2 == 0:
                    body = {
                        "source_uri": f"s3://media/bench/latency/{number}-{i}.mp3",
                        "target_lang": "en",
                    }
                    job_id = _answered(http.post("/v1/jobs", json=body))["id"]
                    posts.append((time.perf_counter() - tick) * 1000)
                else:
                    _answered(http.get(f"/v1/jobs/{job_id}"))
                    gets.append((time.perf_counter() - tick) * 1000)
                time.sleep(max(0.0, interval_s - (time.perf_counter() - tick)))

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(client, range(first, first + count)))
    return posts, gets


def _answered(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON; a refusal as a plain error that survives the process pool
    (httpx's own errors cannot be unpickled there) and says what the API answered."""
    if response.is_error:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    answer: dict[str, Any] = response.json()
    return answer


def _usage_report(api_url: str, key: str, database: str) -> dict[str, Any]:
    """A million usage rows over a year, 20,000 jobs and 40 customers; then a month's
    report by day and customer through the API."""
    with psycopg.connect(database, autocommit=True) as connection:
        (tenant_id,) = connection.execute(
            "SELECT id FROM tenants WHERE name = 'bench'"
        ).fetchone() or (None,)
        jobs = USAGE_ROWS // 50
        started = time.monotonic()
        connection.execute(
            """
            INSERT INTO jobs (id, tenant_id, source_uri, target_lang, outputs, visual_context, output_prefix,
                              estimate_only, labels, status, chunks_total, chunks_done, warnings, created_at, updated_at)
            SELECT gen_random_uuid(), %s, 's3://media/bench/report', (ARRAY['en','de','fr','ja','zh'])[1 + g %% 5],
                   '["text"]', false, 's3://ltb-outputs/bench/', false,
                   jsonb_build_object('customer', 'c' || (g %% 40)), 'succeeded', 1, 1, '[]',
                   timestamptz '2026-01-01' + (g %% 365) * interval '1 day', now()
            FROM generate_series(1, %s) g
            """,
            (tenant_id, jobs),
        )
        # A bulk load, as an import would do it: the per-row rollup triggers off, then the
        # rollup rebuilt from the loaded rows in one statement.
        connection.execute("SET session_replication_role = replica")
        connection.execute(
            """
            INSERT INTO usage_records (id, tenant_id, job_id, chunk_idx, attempt, request_id, model, input_audio,
                                       input_video, input_text, output_text, output_audio, estimated, outcome,
                                       price_table, cost, currency, limiter_wait_s, created_at)
            SELECT gen_random_uuid(), j.tenant_id, j.id, g, 1, md5(random()::text), 'qwen3-livetranslate-flash',
                   375, 0, 0, 120, 0, false, 'ok', 'illustrative-2025-12-01', 0.00495, 'USD', 0,
                   j.created_at + (g % 24) * interval '1 hour'
            FROM jobs j CROSS JOIN generate_series(1, 50) g
            WHERE j.source_uri = 's3://media/bench/report'
            """
        )
        connection.execute("SET session_replication_role = origin")
        connection.execute(
            """
            INSERT INTO usage_daily_rollup (tenant_id, day, model, target_lang, source_lang, batch_id, labels,
                currency, price_table, input_audio, input_video, input_text, output_text, output_audio,
                requests, rate_limited, cost, limiter_wait_s, request_s)
            SELECT u.tenant_id, (u.created_at AT TIME ZONE 'UTC')::date, u.model, j.target_lang,
                   coalesce(j.source_lang, 'auto'), coalesce(j.batch_id::text, ''), j.labels, u.currency,
                   u.price_table, sum(u.input_audio), sum(u.input_video), sum(u.input_text),
                   sum(u.output_text), sum(u.output_audio), count(*), 0, sum(u.cost), 0, 0
            FROM usage_records u JOIN jobs j ON j.id = u.job_id
            WHERE j.source_uri = 's3://media/bench/report'
            GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
            """
        )
        load_s = time.monotonic() - started
        connection.execute("ANALYZE")
        (rows,) = connection.execute("SELECT count(*) FROM usage_records").fetchone() or (0,)
    params = {"from": "2026-05-01", "to": "2026-06-01", "group_by": "day,label:customer"}
    timings = []
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as http:
        for _ in range(25):
            tick = time.perf_counter()
            response = http.get("/v1/usage", params=params)
            timings.append((time.perf_counter() - tick) * 1000)
            response.raise_for_status()
        groups = len(response.json()["rows"])
    return {
        "rows": int(rows),
        "p50": round(quantile(timings[5:], 0.5), 1),
        "p99": round(quantile(timings[5:], 0.99), 1),
        "groups": groups,
        "bulk_load_s": round(load_s, 1),
    }


# --- helpers -----------------------------------------------------------------------------


def _sources() -> list[Path]:
    """200 distinct 30-second speech recordings (FLAC), made once and cached."""
    import soundfile as sf

    from benchmarks.media_bench import RATE_HZ, speech_samples

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = [CACHE / f"talk-{i:03d}.flac" for i in range(JOBS)]
    for i, path in enumerate(paths):
        if not path.exists():
            sf.write(path, speech_samples(SOURCE_S, seed=1000 + i), RATE_HZ, subtype="PCM_16")
    return paths
