"""The console in a real browser against a real service: the embedded profile (SQLite,
folder store, folder broker) as `ltb api` and `ltb worker --beat` processes with the
emulator inside the worker, and Debian's chromium driven by Playwright.

One batch is run end to end once per session: the demo video and a broken file, to
English and German, so there are finished jobs with subtitles and a dub, usage in two
target languages, and failed jobs to retry."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from console_support import ARTIFACTS, DEMO, Console, wait_for

from support.processes import BIN, free_port, running


@pytest.fixture(scope="session")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip(
            "chromium is not installed (`make test` installs it with apt-get when it can): "
            "the console's browser tests need it"
        )
    return path


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    home = root / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LTB_", "DASHSCOPE", "AWS_"))
    } | {
        "LTB_HOME": str(home),
        "LTB_STORAGE_ROOT": str(home / "objects"),
        "LTB_SCRATCH_DIR": str(home / "scratch"),
    }

    def ltb(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "ltb"), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    ltb("db", "upgrade")
    ltb("tenants", "create", "acme", "--allow", "s3://media/acme/")
    ltb("tenants", "create", "globex", "--allow", "s3://media/globex/")
    tenant_key = ltb("keys", "create", "--tenant", "acme")
    operator_key = ltb("keys", "create", "--operator")
    media = home / "objects" / "media" / "acme"
    media.mkdir(parents=True)
    shutil.copy(DEMO, media / "demo.mp4")
    # Not media at all: its jobs fail with unsupported_media, for the batch page's retry.
    (media / "broken.mp4").write_bytes(b"this is not a video\n" * 64)
    (home / "objects" / "ltb-outputs").mkdir(parents=True)

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with (
        running(
            [str(BIN / "ltb"), "api", "--port", str(port), "--metrics-port", str(free_port())],
            ready_url=f"{base_url}/healthz",
            env=env,
            log_path=root / "api.log",
        ),
        running(
            [str(BIN / "ltb"), "worker", "--beat", "--concurrency", "2"],
            env=env,
            log_path=root / "worker.log",
        ),
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {tenant_key}"}, timeout=30
        ) as api,
    ):
        submitted = api.post(
            "/v1/batches",
            json={
                "sources": ["s3://media/acme/demo.mp4", "s3://media/acme/broken.mp4"],
                "target_langs": ["en", "de"],
                "outputs": ["text", "srt", "vtt", "wav"],
                "labels": {"customer": "initech"},
            },
        )
        assert submitted.status_code == 202, submitted.text
        batch_id = submitted.json()["id"]

        def finished() -> bool:
            batch = api.get(f"/v1/batches/{batch_id}").json()
            return bool(batch["status"] == "completed")

        wait_for("the batch to finish", finished, timeout_s=150)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        yield Console(base_url, tenant_key, operator_key, batch_id, api)
