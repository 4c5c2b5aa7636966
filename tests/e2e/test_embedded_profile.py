"""The whole service on one machine with no services at all: SQLite, a local folder as
the object store, a folder as the broker, and the emulator inside the worker."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx

from e2e_support import Client
from support.library import MediaLibrary
from support.processes import BIN, free_port, running
from support.translate_checks import read_srt_strictly
from support.webhook_receiver import receiver


def test_embedded_service_translates_a_job_with_no_services(
    media: MediaLibrary, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LTB_", "DASHSCOPE", "AWS_"))
    } | {
        "LTB_HOME": str(home),
        "LTB_STORAGE_ROOT": str(home / "objects"),
        "LTB_SCRATCH_DIR": str(home / "scratch"),
        # The webhook receiver below listens on loopback.
        "LTB_WEBHOOK_ALLOW_PRIVATE": "true",
    }

    def ltb(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "ltb"), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    ltb("db", "upgrade")
    ltb("tenants", "create", "solo", "--allow", "s3://media/solo/")
    key = ltb("keys", "create", "--tenant", "solo")
    source = home / "objects" / "media" / "solo" / "talk.mp3"
    source.parent.mkdir(parents=True)
    shutil.copy(media.speech_mp3, source)
    (home / "objects" / "ltb-outputs").mkdir(parents=True)

    port = free_port()
    with (
        receiver() as hook,
        running(
            [str(BIN / "ltb"), "api", "--port", str(port), "--metrics-port", str(free_port())],
            ready_url=f"http://127.0.0.1:{port}/healthz",
            env=env,
            log_path=tmp_path / "api.log",
        ),
        running(
            [str(BIN / "ltb"), "worker", "--beat", "--concurrency", "1"],
            env=env,
            log_path=tmp_path / "worker.log",
        ),
    ):
        client = Client(
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
        )
        job = client.submit(
            source_uri="s3://media/solo/talk.mp3",
            target_lang="en",
            outputs=["text", "srt", "wav"],
            callback_url=hook.url,
        )
        done = client.wait(job["id"], timeout_s=180)
        # `ltb worker --beat` alone delivers webhooks too: a single node needs nothing else.
        (delivery,) = hook.wait_for(1, timeout_s=60)
    assert done["status"] == "succeeded", (done, (tmp_path / "worker.log").read_text()[-3000:])
    assert delivery.headers["LTB-Event"] == "job.succeeded" and delivery.json["id"] == job["id"]
    srt = next(o for o in done["outputs"] if o["kind"] == "srt")
    assert srt["url"].startswith("file://")
    assert read_srt_strictly(Path(srt["url"].removeprefix("file://")).read_bytes())
    assert done["usage"]["requests"] >= 1 and done["usage"]["cost"] > 0
