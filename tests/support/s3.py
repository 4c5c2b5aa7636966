"""An S3 server on loopback for tests: moto's server mode, run as a real process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from ltb.storage import S3Store

from support.processes import BIN, free_port, running

# moto accepts any credentials; these keep a developer's real AWS chain out of the tests.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def moto_server(*, env: dict[str, str] | None = None) -> Iterator[str]:
    """Runs `moto_server` on a free loopback port for the block; yields its endpoint URL.

    `env` reaches the server, e.g. `INITIAL_NO_AUTH_ACTION_COUNT=0` to make it check keys.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with running(args, ready_url=f"{endpoint}/moto-api/", env={**AWS_TEST_ENV, **(env or {})}):
        yield endpoint


def dummy_session(
    access_key: str = "testing", secret_key: str = "testing"
) -> boto3.session.Session:
    """A boto3 session with dummy keys, so nothing reads ~/.aws or the real environment."""
    return boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name="us-east-1"
    )


def s3_store(endpoint_url: str, *buckets: str, **options: Any) -> S3Store:
    """An `S3Store` for a test endpoint with dummy credentials, its `buckets` created."""
    options.setdefault("session", dummy_session())
    store = S3Store(endpoint_url=endpoint_url, **options)
    for bucket in buckets:
        store.ensure_bucket(bucket)
    return store
