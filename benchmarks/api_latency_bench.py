"""Issue 13 §6: POST /v1/jobs latency.

    python -m benchmarks api_latency

- api_latency_ms: the fleet suite's 100 paced clients (three runs), against `ltb api`
  while 4 `ltb worker`s run, without the fleet suite's 200-job saturation first, so the
  figure can be taken on its own in a few minutes.
- post_in_process_ms: the same POST made sequentially in this process through the app
  (no network, no Uvicorn): what the request path costs apart from the server's queueing.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks._service import (
    api_process,
    beat_process,
    quantile,
    service_env,
    tenant_with_key,
    use_test_support,
    worker_process,
)
from benchmarks.fleet_bench import api_latency

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".ltb" / "bench-media" / "api-latency"
WORKERS = 4
IN_PROCESS_POSTS = 300
KEY = "sk-api-latency-bench-00000000000"


def run() -> dict[str, Any]:
    use_test_support()
    from support.emulator import start_emulator
    from support.postgres import fresh_database
    from support.processes import free_port
    from support.redis_server import redis_server
    from support.s3 import moto_server, s3_store

    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database("api_latency"))
        redis = stack.enter_context(redis_server(CACHE))
        endpoint = stack.enter_context(moto_server())
        s3_store(endpoint, "media", "ltb-outputs")  # the buckets the service checks at start
        emulator = stack.enter_context(
            start_emulator(["--api-key", KEY], api_key=KEY, log_dir=logs)
        )
        env = service_env(
            home=CACHE / "home",
            database_url=database,
            broker_url=redis.url,
            s3_endpoint=endpoint,
            provider_base_url=emulator.base_url,
            provider_key=KEY,
        )
        api_key = tenant_with_key(env, "bench", "s3://media/bench/")
        port = free_port()
        stack.enter_context(api_process(env, port, logs / "api.log"))
        for i in range(WORKERS):
            stack.enter_context(worker_process(env, logs / f"worker-{i}.log"))
        stack.enter_context(beat_process(env, logs / "beat.log"))
        latency = api_latency(f"http://127.0.0.1:{port}", api_key)
        in_process = _post_in_process(env, api_key)
    return {
        "api_latency_ms": {**latency, "workers_running": WORKERS},
        "post_in_process_ms": in_process,
        "targets": {"post_p50": "<= 10", "post_p99": "< 100"},
    }


def _post_in_process(env: dict[str, str], api_key: str) -> dict[str, Any]:
    """Sequential POSTs through the app in this process (no network, no Uvicorn): what
    the request path itself costs, apart from the server's queueing."""
    os.environ.update(env)
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ltb.settings import get_settings

    get_settings.cache_clear()
    headers = {"Authorization": f"Bearer {api_key}"}
    times_ms: list[float] = []
    with TestClient(create_app()) as client:
        for number in range(20 + IN_PROCESS_POSTS):  # the first 20 warm up
            body = {"source_uri": f"s3://media/bench/profile/{number}.mp3", "target_lang": "en"}
            tick = time.perf_counter()
            client.post("/v1/jobs", json=body, headers=headers).raise_for_status()
            if number >= 20:
                times_ms.append((time.perf_counter() - tick) * 1000)
    return {
        "requests": IN_PROCESS_POSTS,
        "p50": round(quantile(times_ms, 0.5), 2),
        "p99": round(quantile(times_ms, 0.99), 2),
    }
