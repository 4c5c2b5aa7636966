"""What the console's browser tests share: the running service and polling."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from support.processes import REPO

DEMO = REPO / "ltb" / "data" / "demo-sample.mp4"
ARTIFACTS = REPO / "test-artifacts" / "console"


@dataclass(frozen=True)
class Console:
    base_url: str
    tenant_key: str
    operator_key: str
    batch_id: str
    api: httpx.Client

    def job(self, job_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/v1/jobs/{job_id}")
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def jobs(self, **filters: str) -> list[dict[str, Any]]:
        answer = self.api.get("/v1/jobs", params={"batch_id": self.batch_id, **filters})
        answer.raise_for_status()
        jobs: list[dict[str, Any]] = answer.json()["jobs"]
        return jobs


def wait_for(what: str, check: Any, *, timeout_s: float) -> Any:
    """Polls `check` until it returns something truthy; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
