"""Fixing a line of a finished job through the whole service, with the `ltb` client
commands: a cue edit writes revision 1 without a provider call, and a redone chunk
writes revision 2 with exactly one new, billed request."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg

from ltb.storage import ObjectRef

from e2e_support import Client, Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.processes import BIN
from support.translate_checks import ledger_kinds

EDITED = "A corrected line."


def _ltb(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ltb"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


def _wait_for_revision(client: Client, job_id: str, revision: int) -> dict[str, Any]:
    def published_or_failed(job: dict[str, Any]) -> bool:
        failed = [r for r in job["revisions"] if r["status"] == "failed"]
        assert not failed, failed
        return bool(job["output_revision"] == revision)

    return client.wait(job_id, check=published_or_failed)


def _srt(service_env: ServiceEnv, job: dict[str, Any]) -> tuple[str, str]:
    uri = next(o["uri"] for o in job["outputs"] if o["kind"] == "srt")
    return uri, service_env.store.get_bytes(ObjectRef.parse(uri), max_bytes=10**6).decode()


def _billed(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in ledger if sum(ledger_kinds(entry).values()) > 0]


def test_a_cue_edit_is_free_and_a_redo_bills_one_request_each_in_a_new_revision(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    tmp_path: Path,
) -> None:
    name, key = tenant
    client = service.client(key)
    env = {**service_env.env, "LTB_API_URL": service.api_url, "LTB_API_KEY": key}
    source = upload(service_env, name, media.speech_wav)
    service_env.emulator.reset()
    job_id = client.submit(source_uri=source, target_lang="en", outputs=["text", "srt", "vtt"])[
        "id"
    ]
    done = client.wait(job_id)
    assert done["status"] == "succeeded", done
    assert done["output_revision"] == 0 and done["revisions"] == []
    rev0_uri, rev0_srt = _srt(service_env, done)
    paid = len(_billed(service_env.emulator.ledger()))
    requests = done["usage"]["requests"]

    # Edit: get the cues into a file, change the first cue's text, put the file back.
    cues_file = tmp_path / "cues.json"
    _ltb(env, tmp_path, "cues", "get", job_id, "--out", str(cues_file))
    saved = json.loads(cues_file.read_text(encoding="utf-8"))
    assert saved["revision"] == 0 and saved["cues"], saved
    saved["cues"][0]["text"] = EDITED
    cues_file.write_text(json.dumps(saved), encoding="utf-8")
    out = _ltb(env, tmp_path, "cues", "put", job_id, str(cues_file))
    assert "revision 1" in out, out

    edited = _wait_for_revision(client, job_id, 1)
    rev1_uri, rev1_srt = _srt(service_env, edited)
    assert rev1_uri == rev0_uri.replace("subtitles.srt", "rev-1/subtitles.srt")
    assert EDITED in rev1_srt and EDITED not in rev0_srt
    # Revision 0 stays where it was, readable.
    assert service_env.store.get_bytes(ObjectRef.parse(rev0_uri), max_bytes=10**6).decode() == (
        rev0_srt
    )
    assert {o["kind"] for o in edited["outputs"]} == {"text", "srt", "vtt", "manifest"}
    assert all("/rev-1/" in o["uri"] for o in edited["outputs"])
    again = client.http.get(f"/v1/jobs/{job_id}/cues").json()
    assert again["revision"] == 1 and again["cues"][0]["text"] == EDITED
    # Free: no provider request, nothing billed.
    assert len(_billed(service_env.emulator.ledger())) == paid
    assert edited["usage"]["requests"] == requests

    # Redo chunk 0: one request, recorded as a redo, then revision 2 with every output.
    out = _ltb(env, tmp_path, "redo", job_id, "0")
    assert "revision 2" in out, out
    redone = _wait_for_revision(client, job_id, 2)
    assert len(_billed(service_env.emulator.ledger())) == paid + 1
    assert redone["usage"]["requests"] == requests + 1
    assert all("/rev-2/" in o["uri"] for o in redone["outputs"])
    with psycopg.connect(service_env.database_url) as connection:
        purposes = connection.execute(
            "SELECT purpose, count(*) FROM usage_records WHERE job_id = %s GROUP BY purpose",
            (job_id,),
        ).fetchall()
    assert dict(purposes) == {"translate": requests, "redo": 1}
    status = _ltb(env, tmp_path, "status", job_id)
    assert "1: cues edited, ready" in status and "2: chunk 0 redone, current" in status, status
    # The redo is visible in the tenant's usage report, as its own group.
    deadline = time.monotonic() + 30
    report = client.http.get("/v1/usage", params={"group_by": "purpose"}).json()
    while not any(r["group"].get("purpose") == "redo" for r in report["rows"]):
        assert time.monotonic() < deadline, report
        time.sleep(0.2)
        report = client.http.get("/v1/usage", params={"group_by": "purpose"}).json()
    redo_row = next(r for r in report["rows"] if r["group"]["purpose"] == "redo")
    assert redo_row["requests"] == 1
