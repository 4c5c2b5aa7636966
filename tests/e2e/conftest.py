"""The whole service as real processes: `ltb api`, `ltb worker`s and `ltb beat` against
Postgres, a private Redis, moto's S3 server and `ltb emulator`. No eager mode."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from e2e_support import Service, ServiceEnv
from support.emulator import start_emulator
from support.postgres import fresh_database
from support.processes import BIN
from support.redis_server import redis_server
from support.s3 import AWS_TEST_ENV, moto_server, s3_store

EMULATOR_KEY = "sk-e2e-provider-0000000000000000"


@pytest.fixture(scope="session")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceEnv]:
    """Everything the service processes need, started once per session."""
    logs = tmp_path_factory.mktemp("e2e-logs")
    with (
        fresh_database("e2e") as database_url,
        redis_server(tmp_path_factory.mktemp("redis")) as redis,
        moto_server() as s3_endpoint,
        start_emulator(["--api-key", EMULATOR_KEY], api_key=EMULATOR_KEY, log_dir=logs) as emulator,
    ):
        store = s3_store(s3_endpoint, "media", "ltb-outputs")
        home = tmp_path_factory.mktemp("ltb-home")
        env = {
            **os.environ,
            **AWS_TEST_ENV,
            "LTB_PROFILE": "production",
            "LTB_HOME": str(home),
            "LTB_DATABASE_URL": database_url,
            "LTB_BROKER_URL": redis.url,
            "LTB_S3_ENDPOINT_URL": s3_endpoint,
            "LTB_OUTPUT_BUCKET": "ltb-outputs",
            "LTB_WORK_PREFIX": "s3://ltb-outputs/_work/",
            "LTB_SCRATCH_DIR": str(home / "scratch"),
            "DASHSCOPE_API_KEY": EMULATOR_KEY,
            "LTB_PROVIDER_BASE_URL": emulator.base_url,
            "LTB_PROVIDER_BACKOFF_BASE_S": "0.05",
            "LTB_PROVIDER_BACKOFF_MAX_S": "0.5",
            "LTB_CHUNK_LEASE_S": "6",
            "LTB_REAPER_INTERVAL_S": "1",
            "LTB_REAPER_STALE_S": "3",
            # The retention sweep every second, so expiry is seen within a test.
            "LTB_RETENTION_INTERVAL_S": "1",
            # Chunks of at most 6 s: the 16.6 s sample becomes several concurrent tasks.
            "LTB_TARGET_CHUNK_S": "6",
            "LTB_WORKER_CONCURRENCY": "2",
            # The test receiver listens on loopback; retries come quickly.
            "LTB_WEBHOOK_ALLOW_PRIVATE": "true",
            "LTB_WEBHOOK_BACKOFF_BASE_S": "0.3",
        }
        yield ServiceEnv(
            env=env,
            store=store,
            emulator=emulator,
            redis=redis,
            logs=logs,
            database_url=database_url,
        )


@pytest.fixture(scope="session")
def service(service_env: ServiceEnv) -> Iterator[Service]:
    """The API, two workers and beat, shared by the tests that do not kill anything."""
    with Service.running(service_env, workers=2, name="shared") as running:
        yield running


def ltb(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "ltb"), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def tenant(service_env: ServiceEnv, request: pytest.FixtureRequest) -> tuple[str, str]:
    """A fresh tenant (via the CLI, as an operator would) and its API key."""
    name = "t-" + request.node.name.lower().replace("[", "-").replace("]", "")[:40].replace(
        "_", "-"
    )
    name = name.rstrip("-") + "-" + os.urandom(3).hex()
    ltb(service_env.env, "tenants", "create", name, "--allow", f"s3://media/{name}/")
    key = ltb(service_env.env, "keys", "create", "--tenant", name)
    assert key.startswith("ltb_") and "\n" not in key
    return name, key
