"""The API's own limits: the size of a request body, and each tenant's request rate."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from ltb.settings import Settings

from support.api_session import serve
from support.factories import tenant_with_key
from support.processes import free_port
from support.redis_server import redis_server


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _app(settings: Settings, db: Session, **changes: Any) -> FastAPI:
    app = create_app(settings.model_copy(update=changes))
    app.dependency_overrides[get_session] = serve(db)
    return app


@pytest.fixture
def tenant_key(db: Session) -> tuple[Any, str]:
    return tenant_with_key(name=f"rl-{uuid.uuid4().hex[:6]}")


def _job(tenant: Any, **extra: Any) -> dict[str, Any]:
    return {"source_uri": f"s3://media/{tenant.name}/talk.mp4", "target_lang": "en", **extra}


# --- the request body ------------------------------------------------------------------


@pytest.fixture
def small_body_client(settings: Settings, db: Session) -> Iterator[TestClient]:
    with TestClient(_app(settings, db, api_max_body_bytes=2_000)) as client:
        yield client


def test_a_body_declared_too_large_is_refused_with_413(
    small_body_client: TestClient, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    big = _job(tenant, labels={f"k{n}": "v" * 200 for n in range(20)})
    response = small_body_client.post("/v1/jobs", json=big, headers=auth(key))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_body_streamed_without_a_length_is_refused_before_it_ends(
    settings: Settings, db: Session
) -> None:
    """Content-Length is not trusted alone: a chunked body is counted as it arrives, and
    the 413 comes while the client is still sending, from a real HTTP server."""
    app = _app(settings, db, api_max_body_bytes=2_000)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _poll(lambda: server.started, "the API server did not start")
        port = server.config.port
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(
                b"POST /v1/jobs HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer whatever\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(10):  # 10 kB, five times the limit; the body never ends
                connection.sendall(b"3e8\r\n" + b"x" * 1_000 + b"\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                received = connection.recv(65_536)
                if not received:
                    break
                answer += received
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), answer[:200]
        assert json.loads(body)["error"]["code"] == "request_too_large"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _poll(condition: Callable[[], bool], failure: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.02)


def test_a_body_within_the_limit_is_served(
    small_body_client: TestClient, tenant_key: tuple[Any, str]
) -> None:
    tenant, key = tenant_key
    response = small_body_client.post("/v1/jobs", json=_job(tenant), headers=auth(key))
    assert response.status_code == 202, response.text


# --- the rate per tenant -----------------------------------------------------------------


def test_a_tenant_over_its_rate_gets_429_and_other_tenants_do_not(
    settings: Settings, db: Session, tenant_key: tuple[Any, str]
) -> None:
    _, key = tenant_key
    _, other_key = tenant_with_key(name=f"rl-other-{uuid.uuid4().hex[:6]}")
    app = _app(settings, db, api_rate_per_tenant_rps=0.01, api_rate_burst=3)
    with TestClient(app) as client:
        answers = [client.get("/v1/jobs", headers=auth(key)) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.json()["error"]["message"]
        # One token comes back every 100 s at 0.01 per second.
        assert 1 <= int(refused.headers["Retry-After"]) <= 100
        assert client.get("/v1/jobs", headers=auth(other_key)).status_code == 200
        # A request without a valid key is an authentication failure, not a rate one.
        assert client.get("/v1/jobs").status_code == 401


def test_api_processes_sharing_a_redis_share_each_tenant_s_bucket(
    settings: Settings, db: Session, tenant_key: tuple[Any, str], tmp_path: Path
) -> None:
    _, key = tenant_key
    with redis_server(tmp_path) as redis:
        limits = {"api_rate_per_tenant_rps": 0.01, "api_rate_burst": 4, "redis_url": redis.url}
        first = _app(settings, db, **limits)
        second = _app(settings, db, **limits)
        with TestClient(first) as one, TestClient(second) as two:
            assert [one.get("/v1/jobs", headers=auth(key)).status_code for _ in range(2)] == [
                200,
                200,
            ]
            assert [two.get("/v1/jobs", headers=auth(key)).status_code for _ in range(3)] == [
                200,
                200,
                429,
            ]
            assert one.get("/v1/jobs", headers=auth(key)).status_code == 429


def test_the_api_keeps_serving_when_the_limiter_s_redis_is_down(
    settings: Settings, db: Session, tenant_key: tuple[Any, str], tmp_path: Path
) -> None:
    _, key = tenant_key
    with redis_server(tmp_path) as redis:
        app = _app(
            settings, db, api_rate_per_tenant_rps=0.01, api_rate_burst=1, redis_url=redis.url
        )
        with TestClient(app) as client:
            assert client.get("/v1/jobs", headers=auth(key)).status_code == 200
            redis.stop()
            assert [client.get("/v1/jobs", headers=auth(key)).status_code for _ in range(3)] == [
                200,
                200,
                200,
            ]
