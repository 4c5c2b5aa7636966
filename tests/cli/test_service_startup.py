"""`ltb api` and `ltb worker` refuse to start when a bucket they write to is missing,
and say which one, instead of failing every job at publish time."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from support.processes import BIN, free_port, running


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LTB_", "DASHSCOPE_"))}
    return {
        **env,
        "LTB_PROFILE": "embedded",
        "LTB_HOME": str(home),
        "LTB_STORAGE_ROOT": str(home / "objects"),
        "LTB_SCRATCH_DIR": str(home / "scratch"),
        "LTB_OUTPUT_BUCKET": "outputs",
    }


@pytest.mark.parametrize("command", [["api", "--port", "0"], ["worker", "--concurrency", "1"]])
def test_a_missing_output_bucket_stops_the_process_at_start_up_naming_it(
    command: list[str], tmp_path: Path
) -> None:
    (tmp_path / "objects").mkdir()
    log = tmp_path / "process.log"
    # Run as the service runs, in its own process group: if it starts anyway, the
    # test stops it (and its children) instead of leaving it behind.
    with running([str(BIN / "ltb"), *command], env=_env(tmp_path), log_path=log) as process:
        try:
            status = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"ltb {command[0]} started without its output bucket")

    output = log.read_text()
    assert status == 2, output
    assert "output_bucket_missing" in output
    assert "s3://outputs" in output
    assert "Traceback" not in output


def test_with_its_buckets_present_the_api_starts(tmp_path: Path) -> None:
    (tmp_path / "objects" / "outputs").mkdir(parents=True)
    port = free_port()
    with running(
        [str(BIN / "ltb"), "api", "--port", str(port), "--metrics-port", str(free_port())],
        env=_env(tmp_path),
        ready_url=f"http://127.0.0.1:{port}/healthz",
    ):
        pass
