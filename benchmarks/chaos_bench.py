"""The chaos suite (issue 9): the whole service as real processes, broken on purpose
while it works, then its books checked against the provider's.

- 100 jobs (audio and video, a third of them dubbed) through 4 `ltb worker`s;
- a random running worker's process group SIGKILLed every ~20 s (and restarted, as a
  process manager would) while chunks run;
- Redis killed and restarted once (it keeps nothing), Postgres stopped and started once
  (a private cluster, stopped for a while so the API can be probed), moto's S3 server
  frozen for 20 s (SIGSTOP/SIGCONT: a restarted moto forgets every object);
- the emulator at --fail-429 0.2 --fail-500 0.05 --cut 0.05, at a fast real-time factor.

Everything runs on loopback, privately: its own Postgres cluster, redis-server, moto and
emulator. The service runs with its defaults: the suite sets only where its parts are.
Sizes and times can be changed through CHAOS_* environment variables (see `Config`) for
quick runs; `LTB_*` variables in the environment reach the service, and are reported.
"""

from __future__ import annotations

import os
import random
import signal
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks._chaos_books import Event, Record, claim_history, reconcile, recovery
from benchmarks._chaos_infra import Kill, WorkerFleet, freezable_moto, private_postgres
from benchmarks._chaos_scenario import FINAL, Chaos, Monitor, Timeline
from benchmarks._service import (
    ROOT,
    api_process,
    beat_process,
    rounded,
    service_env,
    tenant_with_key,
    use_test_support,
)
from ltb.usage import TOKEN_KINDS, TokenCounts

CACHE = ROOT / ".ltb" / "bench-media" / "chaos"
KEY = "sk-chaos-bench-00000000000000000"
DUB_TARGETS = ("en", "zh")
TEXT_TARGETS = ("en", "ja", "de", "fr", "zh")


@dataclass(frozen=True)
class Config:
    """The run's size and pacing; each field can be set as CHAOS_<NAME> (upper case)."""

    jobs: int = 100
    workers: int = 4
    video_every: int = 4  # every 4th job is a video (with visual context)
    dub_every: int = 3  # every 3rd job asks for a WAV dub
    audio_s: float = 30.0
    video_s: float = 20.0
    realtime_factor: float = 0.1
    # The suite stops waiting for jobs `budget_s` after the first submission. Faults are
    # timed from the first chunk claimed (waiting at most `max_wait_for_work_s` for it);
    # workers are killed inside `window_s` from then.
    budget_s: float = 900.0
    max_wait_for_work_s: float = 240.0
    window_s: float = 120.0
    kill_every_s: float = 20.0
    redis_at_s: float = 30.0
    redis_down_s: float = 3.0
    postgres_at_s: float = 55.0
    postgres_down_s: float = 15.0
    s3_at_s: float = 95.0
    s3_down_s: float = 20.0
    seed: int = 9

    @classmethod
    def from_env(cls) -> Config:
        changes: dict[str, Any] = {}
        for item in fields(cls):
            raw = os.environ.get(f"CHAOS_{item.name.upper()}")
            if raw:
                changes[item.name] = type(getattr(cls(), item.name))(raw)
        return cls(**changes)

    def timeline(self) -> Timeline:
        return Timeline(
            max_wait_for_work_s=self.max_wait_for_work_s,
            window_s=self.window_s,
            kill_every_s=self.kill_every_s,
            redis_at_s=self.redis_at_s,
            redis_down_s=self.redis_down_s,
            postgres_at_s=self.postgres_at_s,
            postgres_down_s=self.postgres_down_s,
            s3_at_s=self.s3_at_s,
            s3_down_s=self.s3_down_s,
        )


def run() -> dict[str, Any]:
    # A SIGTERM unwinds like Ctrl-C, so every process the suite started is stopped.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _run() -> dict[str, Any]:
    use_test_support()
    from ltb.storage import ObjectRef

    from support.emulator import start_emulator
    from support.processes import free_port
    from support.redis_server import redis_server
    from support.s3 import s3_store

    config = Config.from_env()
    jobs = _job_specs(config)
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    emulator_options = [
        "--api-key", KEY, "--realtime-factor", str(config.realtime_factor),
        "--fail-429", "0.2", "--fail-500", "0.05", "--cut", "0.05", "--seed", str(config.seed),
    ]  # fmt: skip
    with ExitStack() as stack:
        postgres, database = stack.enter_context(private_postgres("ltb_chaos"))
        redis = stack.enter_context(redis_server(CACHE))
        endpoint, moto = stack.enter_context(freezable_moto())
        emulator = stack.enter_context(start_emulator(emulator_options, api_key=KEY, log_dir=logs))
        store = s3_store(endpoint, "media", "ltb-outputs")
        for spec in jobs:
            path = spec.pop("path")
            store.upload_file(path, ObjectRef.parse(spec["source_uri"]))
        env = service_env(
            home=CACHE / "home",
            database_url=database,
            broker_url=redis.url,
            s3_endpoint=endpoint,
            provider_base_url=emulator.base_url,
            provider_key=KEY,
        )
        api_key = tenant_with_key(env, "chaos", "s3://media/chaos/")
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        stack.enter_context(api_process(env, port, logs / "api.log"))
        fleet = stack.enter_context(WorkerFleet(env, logs, config.workers))
        stack.enter_context(beat_process(env, logs / "beat.log"))

        started = time.time()
        job_ids = _submit(api_url, api_key, jobs)
        monitor = Monitor(database, job_ids)
        monitor.start()
        chaos = Chaos(
            timeline=config.timeline(),
            fleet=fleet,
            postgres=postgres,
            redis=redis,
            moto=moto,
            database_url=database,
            monitor=monitor,
            probe_requests=_probe_requests(api_url, api_key, job_ids[0], jobs[0]),
            rng=random.Random(config.seed),
        )
        deadline = started + config.budget_s
        try:
            chaos.run(started, deadline)
        finally:
            monitor.stop()
        ended = time.time()
        # The books are read once nothing can add to them: workers stopped, streams settled.
        fleet.__exit__(None, None, None)
        ledger = _settled_ledger(emulator)
        rows = _read_rows(database, job_ids)
    return _figures(config, chaos, monitor, rows, ledger, started, ended)


# --- the jobs ------------------------------------------------------------------------------


def _job_specs(config: Config) -> list[dict[str, Any]]:
    """Mixed work: audio, and videos asking for visual context; some dubbed."""
    specs = []
    for i in range(config.jobs):
        video = config.video_every > 0 and i % config.video_every == config.video_every - 1
        dub = config.dub_every > 0 and i % config.dub_every == 0
        path = _video(config.video_s, seed=7000 + i) if video else _audio(config.audio_s, 5000 + i)
        spec: dict[str, Any] = {
            "path": path,
            "source_uri": f"s3://media/chaos/{path.name}",
            "target_lang": DUB_TARGETS[i % 2] if dub else TEXT_TARGETS[i % len(TEXT_TARGETS)],
            "outputs": ["text", "srt", "wav"] if dub else ["text", "srt"],
            "labels": {"suite": "chaos", "kind": "video" if video else "audio"},
        }
        if video:
            spec["visual_context"] = "on"
        specs.append(spec)
    return specs


def _audio(duration_s: float, seed: int) -> Path:
    import soundfile as sf

    from benchmarks.media_bench import RATE_HZ, speech_samples

    path = CACHE / f"talk-{round(duration_s)}s-{seed}.flac"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        sf.write(path, speech_samples(duration_s, seed=seed), RATE_HZ, subtype="PCM_16")
    return path


def _video(duration_s: float, seed: int) -> Path:
    """A small video (320x240, 10 fps) of moving bars over speech."""
    from benchmarks.media_bench import speech_samples

    from support.media import write_video

    path = CACHE / f"clip-{round(duration_s)}s-{seed}.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.mp4")
        audio = speech_samples(duration_s, seed=seed)
        write_video(partial, width=320, height=240, fps=10, seconds=duration_s, audio=audio)
        partial.rename(path)
    return path


def _submit(api_url: str, key: str, jobs: list[dict[str, Any]]) -> list[str]:
    ids = []
    with httpx.Client(
        base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as http:
        for spec in jobs:
            response = http.post("/v1/jobs", json=spec)
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


def _probe_requests(
    api_url: str, key: str, job_id: str, spec: dict[str, Any]
) -> dict[str, httpx.Request]:
    """A read (one job's status) and a write (an estimate-only job, so nothing is spent)."""
    headers = {"Authorization": f"Bearer {key}"}
    body = {
        "source_uri": spec["source_uri"],
        "target_lang": "en",
        "estimate_only": True,
        "labels": {"suite": "chaos-probe"},
    }
    return {
        "get_job": httpx.Request("GET", f"{api_url}/v1/jobs/{job_id}", headers=headers),
        "post_job": httpx.Request("POST", f"{api_url}/v1/jobs", headers=headers, json=body),
    }


# --- reading the outcome -----------------------------------------------------------------------


def _settled_ledger(emulator: Any) -> list[dict[str, Any]]:
    """The ledger once it stops growing: a dropped stream is noted a moment after the
    client goes away."""
    entries: list[dict[str, Any]] = emulator.ledger()
    for _ in range(30):
        time.sleep(1.0)
        again: list[dict[str, Any]] = emulator.ledger()
        if len(again) == len(entries):
            return again
        entries = again
    return entries


def _read_rows(database: str, job_ids: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(database, connect_timeout=10) as connection:

        def rows(query: str) -> list[tuple[Any, ...]]:
            return connection.execute(query, (job_ids,)).fetchall()

        return {
            "jobs": rows(
                "SELECT id::text, status, error_code, extract(epoch FROM created_at)::float8, "
                "extract(epoch FROM finished_at)::float8, coalesce(stage, '') "
                "FROM jobs WHERE id = ANY(%s::uuid[])"
            ),
            "chunks": rows(
                "SELECT id::text, job_id::text, idx, status, attempts, "
                "extract(epoch FROM started_at)::float8, extract(epoch FROM finished_at)::float8 "
                "FROM chunks WHERE job_id = ANY(%s::uuid[])"
            ),
            "records": rows(
                "SELECT id::text, job_id::text, chunk_idx, outcome, estimated, "
                "extract(epoch FROM created_at)::float8, extract(epoch FROM completed_at)::float8, "
                "input_audio, input_video, input_text, output_text, output_audio "
                "FROM usage_records WHERE job_id = ANY(%s::uuid[])"
            ),
        }


def _figures(
    config: Config,
    chaos: Chaos,
    monitor: Monitor,
    rows: dict[str, list[tuple[Any, ...]]],
    ledger: list[dict[str, Any]],
    started: float,
    ended: float,
) -> dict[str, Any]:
    jobs = rows["jobs"]
    statuses = [status for _, status, *_ in jobs]
    latencies = [
        (finished if finished is not None else ended) - created
        for _, status, _, created, finished, _ in jobs
    ]
    unfinished = {job_id: f"{status}/{stage}" for job_id, status, *_, stage in jobs}
    unfinished = {job_id: at for job_id, at in unfinished.items() if not at.startswith(FINAL)}
    records = [_record(row) for row in rows["records"]]
    # Only the requests for the suite's jobs: the probe's estimate-only jobs make none.
    chunk_ids = {(job_id, idx): chunk_id for chunk_id, job_id, idx, *_ in rows["chunks"]}
    books = reconcile(records, ledger, chunk_ids, chaos.events)
    claims = claim_history(monitor.claims)
    for chunk_id, _, _, _, attempts, started_at, _ in rows["chunks"]:
        if started_at is not None and attempts > 0:
            claims[chunk_id].add((attempts, started_at))
    recovered = recovery(
        chaos.kills,
        {chunk_id: sorted(seen) for chunk_id, seen in claims.items()},
        {chunk_id: finished for chunk_id, *_, finished in rows["chunks"]},
        ended,
    )
    failed_codes: dict[str, int] = {}
    for _, status, code, *_ in jobs:
        if status == "failed":
            failed_codes[code or "none"] = failed_codes.get(code or "none", 0) + 1
    return {
        "jobs_submitted": len(jobs),
        "jobs_succeeded_share": round(statuses.count("succeeded") / max(1, len(jobs)), 3),
        "chunks_billed_twice": books.billed_twice["chunks"],
        "chunks_redone": books.redone,
        "books_minus_ledger_tokens": books.books_minus_ledger,
        "max_job_latency_s": rounded(max(latencies, default=None)),
        "stuck_jobs": len(unfinished),
        "max_recovery_s": recovered["max_recovery_s"],
        "api_during_pg_outage": chaos.probe_log.as_dict(),
        "details": {
            "jobs_by_status": {s: statuses.count(s) for s in sorted(set(statuses))},
            "failed_job_codes": failed_codes,
            "max_job_latency_is_lower_bound": bool(unfinished),
            # Where each unfinished job stood, and its chunks by status (idx: status/claims).
            "stuck": {
                job_id: {
                    "at": at,
                    "chunks": {
                        str(idx): f"{status}/{attempts}"
                        for _, owner, idx, status, attempts, *_ in rows["chunks"]
                        if owner == job_id
                    },
                }
                for job_id, at in unfinished.items()
            },
            "billed_twice": books.billed_twice,
            "recovery": recovered,
            "ledger_requests": len(ledger),
            "ledger_outcomes": _outcomes(ledger),
            "usage_records": len(records),
            "unmatched": books.unmatched,
            "kills": len(chaos.kills),
            "kills_holding_chunks": sum(1 for k in chaos.kills if k.held),
            "kills_not_made": chaos.kills_not_made,
            "faults": _fault_times([e for e in chaos.events if e.kind != "worker_kill"], started),
            "kill_log": _kill_log(chaos.kills, started),
            "faults_not_reached": chaos.skipped,
            "monitor_failed_polls": monitor.failed_polls,
            "run_s": round(ended - started, 1),
        },
        "config": asdict(config),
        "emulator": "--fail-429 0.2 --fail-500 0.05 --cut 0.05 "
        f"--realtime-factor {config.realtime_factor} --seed {config.seed} (rpm/tpm: defaults)",
        "service_settings_changed": {
            name: value for name, value in sorted(os.environ.items()) if name.startswith("LTB_")
        },
        "chaos_goals": {
            "jobs_succeeded_share": "1.0",
            "chunks_billed_twice": "0",
            "books_minus_ledger_tokens": ">= 0 per kind; over only for requests cut mid-stream",
            "stuck_jobs": "0",
            "max_recovery_s": "<= 120",
            "api_during_pg_outage": "503 with a code, no hang; recovers by itself",
        },
    }


def _record(row: tuple[Any, ...]) -> Record:
    record_id, job_id, chunk_idx, outcome, estimated, created_at, completed_at, *counts = row
    return Record(
        id=record_id,
        job_id=job_id,
        chunk_idx=chunk_idx,
        outcome=outcome,
        estimated=estimated,
        created_at=created_at,
        completed_at=completed_at,
        usage=TokenCounts(**dict(zip(TOKEN_KINDS, counts, strict=True))),
    )


def _outcomes(ledger: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in ledger:
        name = entry["outcome"] if entry["outcome"] != "error" else f"error_{entry['status']}"
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def _fault_times(events: list[Event], started: float) -> list[dict[str, Any]]:
    return [
        {
            "kind": e.kind,
            "at_s": round(e.start - started, 1),
            "for_s": round(e.end - e.start, 1),
        }
        for e in sorted(events, key=lambda e: e.start)
    ]


def _kill_log(kills: list[Kill], started: float) -> list[dict[str, Any]]:
    return [
        {
            "at_s": round(k.at - started, 1),
            "worker": k.slot,
            "processes": len(k.pids),
            "chunks_held": len(k.held),
            "chunks_running_fleet_wide": k.running,
        }
        for k in kills
    ]


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
