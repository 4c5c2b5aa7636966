"""Driving the service as a client does: HTTP to `ltb api`, with workers as processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from ltb.storage import ObjectRef, S3Store

from support.emulator import Emulator
from support.processes import BIN, free_port, running, stop
from support.redis_server import RedisServer

FINAL = ("succeeded", "failed", "cancelled", "estimated")


@dataclass
class ServiceEnv:
    env: dict[str, str]
    store: S3Store
    emulator: Emulator
    redis: RedisServer
    logs: Path
    database_url: str

    def chunks(self, job_id: str) -> dict[int, str]:
        """The job's chunks by index and status, read straight from Postgres."""
        with psycopg.connect(self.database_url) as connection:
            rows = connection.execute(
                "SELECT idx, status FROM chunks WHERE job_id = %s", (job_id,)
            ).fetchall()
        return {int(idx): str(status) for idx, status in rows}

    def wait_for_chunks(self, job_id: str, condition, *, timeout_s: float = 60.0) -> dict[int, str]:
        """Polls the job's chunks until `condition(chunks)` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            chunks = self.chunks(job_id)
            if condition(chunks):
                return chunks
            if time.monotonic() > deadline:
                raise AssertionError(f"chunks of {job_id} never reached the condition: {chunks}")
            time.sleep(0.05)


@dataclass
class Service:
    env: ServiceEnv
    api_url: str
    workers: list[Any] = field(default_factory=list)
    stack: ExitStack = field(default_factory=ExitStack)

    @classmethod
    @contextmanager
    def running(cls, env: ServiceEnv, *, workers: int, name: str) -> Iterator[Service]:
        port = free_port()
        service = cls(env=env, api_url=f"http://127.0.0.1:{port}")
        with service.stack:
            service.stack.enter_context(
                running(
                    [
                        *(str(BIN / "ltb"), "api", "--port", str(port)),
                        *("--metrics-port", str(free_port())),
                    ],
                    ready_url=f"{service.api_url}/healthz",
                    env=env.env,
                    log_path=env.logs / f"api-{name}.log",
                )
            )
            for i in range(workers):
                service.add_worker(f"{name}-{i}")
            # Webhooks have a queue and processes of their own, as in Compose.
            service.stack.enter_context(
                running(
                    [str(BIN / "ltb"), "webhooks", "--concurrency", "1", "--loglevel", "info"],
                    env=env.env,
                    log_path=env.logs / f"webhooks-{name}.log",
                )
            )
            service.stack.enter_context(
                running(
                    [str(BIN / "ltb"), "beat"], env=env.env, log_path=env.logs / f"beat-{name}.log"
                )
            )
            yield service

    def add_worker(self, name: str) -> Any:
        process = self.stack.enter_context(
            running(
                [str(BIN / "ltb"), "worker", "--loglevel", "info"],
                env=self.env.env,
                log_path=self.env.logs / f"worker-{name}.log",
            )
        )
        self.workers.append(process)
        return process

    def stop_workers_warmly(self, *, timeout_s: float = 120.0) -> None:
        """SIGTERM to each worker's main process only, as a process manager sends it: Celery
        stops taking tasks and waits for the ones in flight (its children must not get it)."""
        for process in list(self.workers):
            os.kill(process.pid, signal.SIGTERM)
        for process in list(self.workers):
            process.wait(timeout=timeout_s)
            self.workers.remove(process)

    def kill_workers(self) -> None:
        """SIGKILL every worker process group: no warm shutdown, no acks, no cleanup."""
        for process in list(self.workers):
            stop(process, sig=signal.SIGKILL)
            self.workers.remove(process)

    def client(self, key: str) -> Client:
        return Client(
            httpx.Client(
                base_url=self.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
            )
        )


@dataclass
class Client:
    http: httpx.Client

    def submit(self, **body: Any) -> dict[str, Any]:
        response = self.http.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait(
        self, job_id: str, *, until: tuple[str, ...] = FINAL, timeout_s: float = 120.0, check=None
    ) -> dict[str, Any]:
        """Polls the job until its status is in `until` (or `check(job)` holds)."""
        deadline = time.monotonic() + timeout_s
        delay = 0.05
        while True:
            job = self.job(job_id)
            if check(job) if check else job["status"] in until:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"job {job_id} is still {job['status']}/{job['stage']} after {timeout_s} s: {job}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


def upload(service_env: ServiceEnv, tenant_name: str, path: Path, name: str | None = None) -> str:
    ref = ObjectRef.parse(f"s3://media/{tenant_name}/{name or path.name}")
    service_env.store.upload_file(path, ref)
    return ref.uri
