"""Issue 13 §6: POST /v1/jobs latency, and where its milliseconds go.

    python -m benchmarks api_latency

- api_latency_ms: the fleet suite's 100 paced clients (three runs), against `ltb api`
  while 4 `ltb worker`s run, without the fleet suite's 200-job saturation first, so the
  figure can be taken on its own in a few minutes.
- post_profile_ms: the same POST made in this process through the app (no network, no
  Uvicorn), sequentially under cProfile, its time per request split by the stage it is
  spent in: the tenant's key lookup, the per-tenant rate limit, body validation, the job
  row and its idempotency check, the commit, the plan task's send, the answer's view.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks._service import (
    api_process,
    beat_process,
    service_env,
    tenant_with_key,
    use_test_support,
    worker_process,
)
from benchmarks.fleet_bench import api_latency

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".ltb" / "bench-media" / "api-latency"
WORKERS = 4
PROFILED_POSTS = 300
KEY = "sk-api-latency-bench-00000000000"
# Where a POST's time is spent, by the function its stack passes through (cumulative).
STAGES = {
    "key_lookup": ("api/deps.py", "get_tenant"),
    "rate_limit": ("api/", "enforce_rate_limit"),
    "submit (job row, idempotency check, flush)": ("api/jobs/service.py", "submit"),
    "commit": ("sqlalchemy/orm/session.py", "commit"),
    "send plan task": ("celery/app/base.py", "send_task"),
    "view (answer built)": ("api/jobs/service.py", "view"),
    "response JSON": ("fastapi/routing.py", "serialize_response"),
}


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
        profile = _post_profile(env, api_key)
    return {
        "api_latency_ms": {**latency, "workers_running": WORKERS},
        "post_profile_ms": profile,
        "targets": {"post_p50": "<= 10", "post_p99": "< 100"},
    }


def _post_profile(env: dict[str, str], api_key: str) -> dict[str, Any]:
    """Sequential POSTs through the app in this process, profiled, per request."""
    os.environ.update(env)
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ltb.settings import get_settings

    get_settings.cache_clear()
    headers = {"Authorization": f"Bearer {api_key}"}
    with TestClient(create_app()) as client:

        def post(number: int) -> None:
            body = {"source_uri": f"s3://media/bench/profile/{number}.mp3", "target_lang": "en"}
            client.post("/v1/jobs", json=body, headers=headers).raise_for_status()

        for number in range(20):  # warm up: connections, the key cache
            post(number)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for number in range(PROFILED_POSTS):
            post(1000 + number)
        profiler.disable()
        elapsed_s = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    per_request = {
        stage: round(_cumulative_s(stats, path, name) * 1000 / PROFILED_POSTS, 2)
        for stage, (path, name) in STAGES.items()
    }
    return {
        "requests": PROFILED_POSTS,
        "wall_per_request": round(elapsed_s * 1000 / PROFILED_POSTS, 2),
        "by_stage": per_request,
        "note": "under cProfile (which slows Python code ~1.5-2x); in-process, no Uvicorn",
    }


def _cumulative_s(stats: pstats.Stats, path_part: str, name: str) -> float:
    """The cumulative time of functions named `name` in a file whose path has `path_part`
    (outermost calls only, so recursion is not counted twice)."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return float(
        sum(
            cumulative
            for (file, _line, function), (_cc, _nc, _tt, cumulative, _callers) in table.items()
            if function == name and path_part in file
        )
    )
