"""Starting the batch service as real processes for a benchmark: its environment, its
tenant and key, the API, workers and beat. Shared by the fleet and chaos suites, which
differ in what they do to the service, not in how they start it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LTB = Path(sys.executable).parent / "ltb"
# A process started for the length of a `with` block, in its own process group.
Process = AbstractContextManager[subprocess.Popen[bytes]]


def use_test_support() -> None:
    """Puts tests/ on the path, so `support.*` (Postgres, Redis, moto, emulator) imports."""
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)


def service_env(
    *,
    home: Path,
    database_url: str,
    broker_url: str,
    s3_endpoint: str,
    provider_base_url: str,
    provider_key: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every service process gets: the production profile wired to the
    benchmark's own Postgres, Redis, S3 server and emulator, and nothing else changed
    unless `extra` says so."""
    use_test_support()
    from support.s3 import AWS_TEST_ENV

    return {
        **os.environ,
        **AWS_TEST_ENV,
        "LTB_PROFILE": "production",
        "LTB_HOME": str(home),
        "LTB_SCRATCH_DIR": str(home / "scratch"),
        "LTB_DATABASE_URL": database_url,
        "LTB_BROKER_URL": broker_url,
        "LTB_S3_ENDPOINT_URL": s3_endpoint,
        "LTB_OUTPUT_BUCKET": "ltb-outputs",
        "LTB_WORK_PREFIX": "s3://ltb-outputs/_work/",
        "DASHSCOPE_API_KEY": provider_key,
        "LTB_PROVIDER_BASE_URL": provider_base_url,
        **(extra or {}),
    }


def ltb(env: Mapping[str, str], *args: str) -> str:
    """Runs one `ltb` command to completion and returns what it printed."""
    done = subprocess.run(
        [str(LTB), *args], env=dict(env), capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def tenant_with_key(env: Mapping[str, str], name: str, allow: str) -> str:
    """Creates a tenant allowed to read `allow` and returns a new API key for it."""
    ltb(env, "tenants", "create", name, "--allow", allow)
    return ltb(env, "keys", "create", "--tenant", name)


def api_process(env: Mapping[str, str], port: int, log_path: Path, *, workers: int = 2) -> Process:
    """`ltb api` on a loopback port, ready once /healthz answers."""
    use_test_support()
    from support.processes import free_port, running

    manager: Process = running(
        [
            *(str(LTB), "api", "--port", str(port), "--workers", str(workers)),
            # Each suite's API gets its own metrics listener, so suites never share a port.
            *("--metrics-port", str(free_port())),
        ],
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env=dict(env),
        log_path=log_path,
    )
    return manager


def worker_process(
    env: Mapping[str, str], log_path: Path, *, concurrency: int | None = None
) -> Process:
    """One `ltb worker` (a Celery main process and its pool) in its own process group;
    without `concurrency` it runs the service's default pool size."""
    use_test_support()
    from support.processes import running

    args = [str(LTB), "worker", "--loglevel", "info"]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    manager: Process = running(args, env=dict(env), log_path=log_path)
    return manager


def beat_process(env: Mapping[str, str], log_path: Path) -> Process:
    use_test_support()
    from support.processes import running

    manager: Process = running([str(LTB), "beat"], env=dict(env), log_path=log_path)
    return manager


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def rounded(value: float | None, digits: int = 1) -> Any:
    return None if value is None else round(value, digits)
