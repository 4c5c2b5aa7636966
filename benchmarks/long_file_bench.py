"""Issue 13 §1: one long file at the quota's speed.

    python -m benchmarks long_file

A 60-minute speech recording with text, SRT, VTT and a WAV dub is submitted alone to an
idle fleet of 4 `ltb worker`s (the service's default pool size) against the emulator at
100 requests and 100,000 tokens a minute, real-time factor 0.2. The goal is a wall time
within 1.3x the quota-bound minimum:

    minimum_s = max(requests / 100 per min, tokens / 100,000 per min,
                    the provider's own streaming time for the longest chunk)

where the provider's streaming time is what the emulator paces a stream to: the
chunk's media seconds x the real-time factor.

Where the time goes is read back from the database the service keeps anyway: the job's
timestamps, each chunk's start and finish, each request's admission, limiter wait and
stream duration; the job's stage is polled while it runs to split the finalize into
assembly and upload.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
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
from benchmarks.media_bench import speech_recording

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".ltb" / "bench-media" / "long-file"
SOURCE_S = 3600.0
WORKERS = 4
REALTIME_FACTOR = 0.2
RPM, TPM = 100, 100_000
OUTPUTS = ["text", "srt", "vtt", "wav"]
TARGET_RATIO = 1.3
# The suite's own bound: a job that has not finished by then is reported as such.
JOB_TIMEOUT_S = 900.0
KEY = "sk-long-file-bench-000000000000"


def run() -> dict[str, Any]:
    use_test_support()
    from ltb.storage import ObjectRef

    from support.emulator import start_emulator
    from support.postgres import fresh_database
    from support.processes import free_port
    from support.redis_server import redis_server
    from support.s3 import moto_server, s3_store

    source = speech_recording(SOURCE_S)
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database("long_file"))
        redis = stack.enter_context(redis_server(CACHE))
        endpoint = stack.enter_context(moto_server())
        emulator = stack.enter_context(
            start_emulator(
                [
                    *("--api-key", KEY, "--rpm", str(RPM), "--tpm", str(TPM)),
                    *("--realtime-factor", str(REALTIME_FACTOR)),
                ],
                api_key=KEY,
                log_dir=logs,
            )
        )
        store = s3_store(endpoint, "media", "ltb-outputs")
        source_uri = f"s3://media/bench/long/{source.name}"
        store.upload_file(source, ObjectRef.parse(source_uri))
        env = service_env(
            home=CACHE / "home",
            database_url=database,
            broker_url=redis.url,
            s3_endpoint=endpoint,
            provider_base_url=emulator.base_url,
            provider_key=KEY,
            extra={"LTB_QUOTA_RPM": str(RPM), "LTB_QUOTA_TPM": str(TPM)},
        )
        api_key = tenant_with_key(env, "bench", "s3://media/bench/")
        port = free_port()
        stack.enter_context(api_process(env, port, logs / "api.log"))
        for i in range(WORKERS):
            stack.enter_context(worker_process(env, logs / f"worker-{i}.log"))
        stack.enter_context(beat_process(env, logs / "beat.log"))
        return _one_job(f"http://127.0.0.1:{port}", api_key, database, source_uri)


def _one_job(api_url: str, key: str, database: str, source_uri: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=60) as http:
        submitted = datetime.now(UTC)
        clock = time.monotonic()
        response = http.post(
            "/v1/jobs",
            json={
                "source_uri": source_uri,
                "target_lang": "en",
                "outputs": OUTPUTS,
                "voice": "Cherry",
            },
        )
        response.raise_for_status()
        job_id = response.json()["id"]
        stages = _StageWatch(database, job_id)
        stages.start()
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while (status := http.get(f"/v1/jobs/{job_id}").json()["status"]) in (
            "queued",
            "running",
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        wall_s = time.monotonic() - clock
        stages.stop()
    return _figures(database, job_id, submitted, wall_s, status, stages.first_seen)


class _StageWatch(threading.Thread):
    """Notes when the job is first seen in each stage (polled every 0.2 s)."""

    def __init__(self, database: str, job_id: str) -> None:
        super().__init__(daemon=True)
        self.database, self.job_id = database, job_id
        self.first_seen: dict[str, datetime] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.database, autocommit=True) as connection:
            while not self._stop_event.wait(0.2):
                row = connection.execute(
                    "SELECT stage FROM jobs WHERE id = %s", (self.job_id,)
                ).fetchone()
                if row and row[0] and row[0] not in self.first_seen:
                    self.first_seen[row[0]] = datetime.now(UTC)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _figures(
    database: str,
    job_id: str,
    submitted: datetime,
    wall_s: float,
    status: str,
    stages: dict[str, datetime],
) -> dict[str, Any]:
    with psycopg.connect(database) as connection:
        job = connection.execute(
            "SELECT started_at, finished_at FROM jobs WHERE id = %s", (job_id,)
        ).fetchone()
        chunks = connection.execute(
            "SELECT idx, start_s, end_s, started_at, finished_at, status, "
            "est_input_audio + est_input_video + est_output_text + est_output_audio "
            "FROM chunks WHERE job_id = %s AND status NOT IN ('silent', 'split') ORDER BY idx",
            (job_id,),
        ).fetchall()
        records = connection.execute(
            "SELECT chunk_idx, created_at, limiter_wait_s, coalesce(duration_s, 0), "
            "input_audio + input_video + input_text + output_text + output_audio "
            "FROM usage_records WHERE job_id = %s ORDER BY created_at",
            (job_id,),
        ).fetchall()
    assert job is not None
    started_at, finished_at = job
    end = finished_at or datetime.now(UTC)
    # The minimum is the job's own need, one request per chunk at its planned tokens,
    # not what retries added (those are reported beside it).
    tokens = sum(c[6] for c in chunks)
    longest_media_s = max((c[2] - c[1] for c in chunks), default=0.0)
    bounds = {
        "requests_s": len(chunks) / RPM * 60,
        "tokens_s": tokens / TPM * 60,
        "longest_stream_s": longest_media_s * REALTIME_FACTOR,
    }
    minimum_s = max(bounds.values())
    first_record: dict[int, datetime] = {}
    for idx, created, *_ in records:
        first_record.setdefault(idx, created)
    extract = [
        (first_record[c[0]] - c[3]).total_seconds()
        for c in chunks
        if c[0] in first_record and c[3] is not None
    ]
    streams = [(r[1], r[1].timestamp() + r[3]) for r in records]
    first_chunk = min((c[3] for c in chunks if c[3]), default=end)
    last_chunk = max((c[4] for c in chunks if c[4]), default=end)
    assembling = stages.get("assembling")
    publishing = stages.get("publishing")
    return {
        "status": status,
        "source": f"{SOURCE_S / 60:.0f} min speech, mp3, 16 kHz mono",
        "outputs": OUTPUTS,
        "workers": WORKERS,
        "chunks": len(chunks),
        "chunks_failed": sum(1 for c in chunks if c[5] == "failed"),
        "planned_tokens": tokens,
        "requests_made": len(records),
        "tokens_billed_or_estimated": sum(r[4] for r in records),
        "wall_s": round(wall_s, 1),
        "minimum_s": round(minimum_s, 1),
        "minimum_bounds_s": {name: round(value, 1) for name, value in bounds.items()},
        "wall_over_minimum": round(wall_s / minimum_s, 2) if minimum_s else None,
        "target": f"wall_over_minimum <= {TARGET_RATIO}",
        "breakdown_s": {
            # submission -> the plan step started, and -> the first request admitted
            # (chunk claims are re-stamped when a chunk is retried, requests are not)
            "plan_step_started": round(
                ((started_at or first_chunk) - submitted).total_seconds(), 1
            ),
            "first_request": round((records[0][1] - submitted).total_seconds(), 1)
            if records
            else None,
            # a chunk claimed -> its request admitted: source read and payload extracted
            "extract_p50": round(quantile(extract, 0.5), 1),
            "extract_max": round(max(extract, default=0.0), 1),
            "limiter_wait_max": round(max((r[2] for r in records), default=0.0), 1),
            "provider_stream_p50": round(quantile([r[3] for r in records], 0.5), 1),
            "provider_stream_max": round(max((r[3] for r in records), default=0.0), 1),
            # first chunk claimed -> last chunk done: the fan-out as a whole
            "translate": round((last_chunk - first_chunk).total_seconds(), 1),
            "most_streams_at_once": _most_at_once(streams),
            # last chunk done -> the job succeeded, split where the stage was seen to change
            "finalize": round((end - last_chunk).total_seconds(), 1),
            "assemble": round(((publishing or end) - (assembling or last_chunk)).total_seconds(), 1)
            if assembling
            else None,
            "upload": round((end - publishing).total_seconds(), 1) if publishing else None,
        },
        "method": (
            "wall from POST /v1/jobs until GET shows the job ended (polled every 0.5 s); chunk and request times from "
            "the chunks and usage_records rows; assemble/upload split by polling the job's "
            "stage every 0.2 s"
        ),
    }


def _most_at_once(streams: list[tuple[datetime, float]]) -> int:
    events = sorted(
        [(start.timestamp(), 1) for start, _ in streams] + [(end, -1) for _, end in streams]
    )
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most
