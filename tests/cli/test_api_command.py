"""`ltb api` serves the REST API on one listener and /metrics on another
(LTB_METRICS_HOST/PORT, loopback by default); the public one answers 404 for /metrics."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.postgres import fresh_database
from support.processes import BIN, free_port, running, wait_until_ready


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_database("api_cmd") as url:
        yield url


def environment(database_url: str, home: Path) -> dict[str, str]:
    # `ltb api` refuses to start without its output bucket (a folder in the embedded store).
    (home / "objects" / "ltb-outputs").mkdir(parents=True, exist_ok=True)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("LTB_")},
        "LTB_DATABASE_URL": database_url,
        "LTB_HOME": str(home),
        "LTB_BROKER_URL": f"filesystem://{home / 'broker'}",
        "LTB_STORAGE_ROOT": str(home / "objects"),
    }


def test_metrics_are_served_on_their_own_listener_only(database_url: str, tmp_path: Path) -> None:
    api_port, metrics_port = free_port(), free_port()
    env = {**environment(database_url, tmp_path), "LTB_METRICS_PORT": str(metrics_port)}
    with running(
        [str(BIN / "ltb"), "api", "--port", str(api_port), "--workers", "2"],
        ready_url=f"http://127.0.0.1:{api_port}/healthz",
        env=env,
        log_path=tmp_path / "api.log",
    ) as proc:
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        wait_until_ready(metrics_url, proc)

        public = httpx.get(f"http://127.0.0.1:{api_port}/metrics", timeout=10)
        scraped = httpx.get(metrics_url, timeout=10)

        assert public.status_code == 404
        assert scraped.status_code == 200
        families = {family.name for family in text_string_to_metric_families(scraped.text)}
        assert {"ltb_jobs", "ltb_provider_tokens", "ltb_cost"} <= families
        # The listener serves /metrics and nothing of the API.
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/v1/jobs", timeout=10).status_code == 404


def test_a_metrics_port_in_use_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = subprocess.run(
            [str(BIN / "ltb"), "api", "--port", str(free_port()), "--metrics-port", str(taken)],
            env=environment(database_url, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert done.returncode == 2, done.stderr
    assert "metrics_listener_unavailable" in done.stderr
    assert "Traceback" not in done.stderr
