"""`ltb submit`, `ltb status` and `ltb usage` as a user runs them: the `ltb` executable
against the whole service, checked through the API."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ltb.storage import ObjectRef

from e2e_support import Service, ServiceEnv, upload
from support.library import MediaLibrary
from support.processes import BIN, free_port

JOB_LINE = re.compile(r"^([0-9a-f-]{36})  (\S+)  (\S+)  (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class User:
    """A tenant's key and an environment for running `ltb` as that tenant's user."""

    name: str
    key: str
    env: dict[str, str]
    cwd: Path

    def ltb(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(BIN / "ltb"), *args],
            env=env or self.env,
            cwd=self.cwd,  # away from any .env in the checkout
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        return done


def as_user(service: Service, service_env: ServiceEnv, name: str, key: str, cwd: Path) -> User:
    env = {**service_env.env, "LTB_API_URL": service.api_url, "LTB_API_KEY": key}
    env.pop("LTB_UPLOAD_PREFIX", None)
    return User(name=name, key=key, env=env, cwd=cwd)


def operator(service_env: ServiceEnv, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ltb"), *args],
        env=service_env.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def user(
    service: Service, service_env: ServiceEnv, tmp_path_factory: pytest.TempPathFactory
) -> User:
    """One tenant for this module's tests, so its translations are made once."""
    name = "t-client-" + os.urandom(3).hex()
    operator(service_env, "tenants", "create", name, "--allow", f"s3://media/{name}/")
    key = operator(service_env, "keys", "create", "--tenant", name)
    return as_user(service, service_env, name, key, tmp_path_factory.mktemp("client-cwd"))


@dataclass(frozen=True)
class TwoTargets:
    first: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    ids: list[str]


@pytest.fixture(scope="module")
def two_targets(user: User, service_env: ServiceEnv, media: MediaLibrary) -> TwoTargets:
    """One s3:// source submitted to en and fr with --wait, then the same command again."""
    source = upload(service_env, user.name, media.speech_wav)
    args = ["submit", source, "--target", "en,fr", "--label", "customer=globex"]
    first = user.ltb(*args, "--wait")
    again = user.ltb(*args, "--json")
    ids = [match[0] for match in JOB_LINE.findall(first.stdout)]
    return TwoTargets(first=first, again=again, ids=ids)


def test_submit_with_wait_runs_a_job_per_target_and_prints_a_summary(
    two_targets: TwoTargets, service: Service, user: User
) -> None:
    first = two_targets.first
    assert first.returncode == 0, first.stderr
    lines = JOB_LINE.findall(first.stdout)
    assert [target for _, _, target, _ in lines] == ["en", "fr"]
    client = service.client(user.key)
    for job_id in two_targets.ids:
        job = client.job(job_id)
        assert job["status"] == "succeeded", job
        assert job["labels"] == {"customer": "globex"}
        # The summary names every job with its final status, and the total cost.
        summary = first.stdout.split("total")[0]
        assert re.search(rf"{job_id}\s+speech\.wav\s+{job['target_lang']}\s+succeeded", summary)
    total = sum(client.job(job_id)["usage"]["cost"] for job_id in two_targets.ids)
    assert re.search(rf"^\s*total\s+[\d,]+\s+{total:.6f}\s*$", first.stdout, re.MULTILINE)


def test_submit_with_wait_exits_1_and_names_the_error_when_a_job_fails(user: User) -> None:
    done = user.ltb(
        "submit", f"s3://media/{user.name}/nothing-here.mp3", "--target", "en", "--wait"
    )
    assert done.returncode == 1, done.stderr
    assert re.search(r"^\s*[0-9a-f-]{36}\s+nothing-here\.mp3\s+en\s+failed\b", done.stdout, re.M)
    assert re.search(r"^failed [0-9a-f-]{36} source_not_found: ", done.stderr, re.M), done.stderr


def test_submitting_the_same_command_again_finds_the_same_jobs(
    two_targets: TwoTargets, service: Service, user: User
) -> None:
    again = two_targets.again
    assert again.returncode == 0, again.stderr
    assert [job["id"] for job in json.loads(again.stdout)] == two_targets.ids
    listed = service.client(user.key).http.get("/v1/jobs", params={"label": "customer:globex"})
    assert sorted(job["id"] for job in listed.json()["jobs"]) == sorted(two_targets.ids)


def test_status_shows_the_job_with_its_usage_and_outputs(
    two_targets: TwoTargets, user: User
) -> None:
    job_id = two_targets.ids[0]
    done = user.ltb("status", job_id, "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["id"] == job_id and job["status"] == "succeeded"
    assert job["usage"]["requests"] >= 1
    srt = next(o for o in job["outputs"] if o["kind"] == "srt")
    text = user.ltb("status", job_id)
    assert text.returncode == 0, text.stderr
    assert "succeeded" in text.stdout
    # URLs are printed whole, on a line of their own, however narrow the output (each
    # call signs afresh, so the query differs).
    assert srt["uri"] in text.stdout
    url = re.escape(srt["url"].split("?")[0])
    assert re.search(rf"^  {url}\?\S*X-Amz-Signature=\w+$", text.stdout, re.MULTILINE)


def test_usage_shows_each_target_as_a_table_or_as_csv(two_targets: TwoTargets, user: User) -> None:
    table = user.ltb("usage", "--group-by", "target_lang,label:customer")
    assert table.returncode == 0, table.stderr
    for target in ("en", "fr"):
        assert re.search(rf"^\s*{target}\s+globex\s+\d", table.stdout, re.MULTILINE), table.stdout
    csv = user.ltb("usage", "--group-by", "target_lang", "--csv")
    assert csv.returncode == 0, csv.stderr
    header, *rows = csv.stdout.splitlines()
    assert header.startswith("target_lang,input_audio_tokens,")
    assert sorted(row.split(",")[0] for row in rows) == ["en", "fr"]


def test_submit_uploads_a_local_file_once_and_translates_it(
    service: Service,
    service_env: ServiceEnv,
    tenant: tuple[str, str],
    media: MediaLibrary,
    tmp_path: Path,
) -> None:
    name, key = tenant
    client_user = as_user(service, service_env, name, key, tmp_path)
    prefix = f"s3://media/{name}/uploads/"
    args = ["submit", str(media.speech_mp3), "--target", "de", "--upload-prefix", prefix]
    done = client_user.ltb(*args, "--wait", "--json")
    assert done.returncode == 0, done.stderr
    [job] = json.loads(done.stdout)
    digest = hashlib.sha256(media.speech_mp3.read_bytes()).hexdigest()
    assert job["source_uri"] == f"{prefix}{digest[:16]}/speech.mp3"
    assert job["status"] == "succeeded", job
    assert service_env.store.exists(ObjectRef.parse(job["source_uri"]))
    again = client_user.ltb(*args, "--json")
    assert again.returncode == 0, again.stderr
    assert "already uploaded" in again.stderr
    assert [j["id"] for j in json.loads(again.stdout)] == [job["id"]]


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        pytest.param(["submit", "{own}", "--target", "en"], 2, "missing_api_key", id="no-key"),
        pytest.param(
            ["submit", "s3://media/someone-else/talk.mp4", "--target", "en"],
            2,
            "source_not_allowed",
            id="source-of-another-tenant",
        ),
        pytest.param(["submit", "{own}", "--target", "xx"], 2, "unknown_language", id="language"),
        pytest.param(
            ["submit", "{local}", "--target", "en"], 2, "missing_upload_prefix", id="no-prefix"
        ),
        pytest.param(["status", "{unknown_id}"], 2, "not_found", id="unknown-job"),
        pytest.param(["usage", "--api-url", "{down}"], 1, "api_unreachable", id="api-down"),
    ],
)
def test_failures_exit_with_a_code_and_a_message_never_a_traceback(
    user: User, media: MediaLibrary, args: list[str], status: int, code: str
) -> None:
    values = {
        "own": f"s3://media/{user.name}/speech.wav",
        "local": str(media.speech_wav),
        "unknown_id": "00000000-0000-4000-8000-000000000000",
        "down": f"http://127.0.0.1:{free_port()}",
    }
    env = user.env
    if code == "missing_api_key":
        env = {k: v for k, v in user.env.items() if k != "LTB_API_KEY"}
    done = user.ltb(*(arg.format(**values) for arg in args), env=env)
    assert done.returncode == status, done.stderr
    message = " ".join(done.stderr.split())  # as one line, however the terminal wrapped it
    assert message.startswith(f"error {code}: "), message
    if code == "missing_api_key":
        assert "ltb keys create" in message and "LTB_API_KEY" in message
    if code == "api_unreachable":
        assert values["down"] in message
