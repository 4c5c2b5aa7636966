"""One transaction per request: the session dependency commits when the handler returns
(before the answer), rolls back when it raises, and tasks leave only after the commit.

The API runs in-process with sessions of its own on a real Postgres (not the rolled-back
test session), and sends its tasks to a private Redis broker, whose queues are read here.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.deps import TenantDep, UnitOfWorkDep
from api.errors import ApiError
from ltb.db.engine import after_commit, unit_of_work
from ltb.db.models import Job, Tenant, WebhookEvent
from ltb.queue import DELIVER_WEBHOOK, PLAN_JOB, PLAN_QUEUE, WEBHOOK_QUEUE
from ltb.settings import Settings
from ltb.tenancy import hash_key

from support.factories import ApiKeyFactory, TenantFactory
from support.redis_server import RedisServer, redis_server


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


@pytest.fixture
def tenant_key(engine: Engine) -> Iterator[tuple[uuid.UUID, str]]:
    """A committed tenant and key, removed (with its jobs) at the end."""
    secret = f"ltb_test_{uuid.uuid4().hex}"
    with Session(engine) as session:
        TenantFactory._meta.sqlalchemy_session = session
        ApiKeyFactory._meta.sqlalchemy_session = session
        tenant = TenantFactory()
        ApiKeyFactory(tenant_id=tenant.id, key_hash=hash_key(secret), display_prefix=secret[:12])
        session.commit()
        tenant_id = tenant.id
    yield tenant_id, secret
    with Session(engine) as session:
        session.execute(text("DELETE FROM tenants WHERE id = :id"), {"id": tenant_id})
        session.commit()


def _write(tenant: TenantDep, uow: UnitOfWorkDep) -> Job:
    """A handler that writes a job and queues its plan, and does nothing more."""
    job = Job(
        tenant_id=tenant.id,
        source_uri=f"s3://media/{tenant.name}/x.mp3",
        target_lang="en",
        outputs=["text"],
        output_prefix=f"s3://ltb-outputs/{tenant.name}/x/",
        status="queued",
        labels={"written_by": "failing-handler"},
    )
    uow.session.add(job)
    uow.session.flush()
    uow.enqueue(PLAN_JOB, str(job.id))
    return job


def _write_and_answer(tenant: TenantDep, uow: UnitOfWorkDep) -> dict[str, str]:
    return {"id": str(_write(tenant, uow).id)}


def _fail_after_writing(tenant: TenantDep, uow: UnitOfWorkDep, kind: str) -> None:
    _write(tenant, uow)
    if kind == "refused":
        raise ApiError(409, "refused_after_writing", "the handler refused after writing")
    raise RuntimeError("the handler broke after writing")


@pytest.fixture
def app(settings: Settings, broker: RedisServer) -> FastAPI:
    app = create_app(settings.model_copy(update={"broker_url": broker.url}))
    app.add_api_route("/test/write", _write_and_answer, methods=["POST"], status_code=201)
    app.add_api_route("/test/fail-after-writing", _fail_after_writing, methods=["POST"])
    return app


def _messages(broker: RedisServer, queue: str) -> list[tuple[str, list[Any]]]:
    """(task name, args) of each message waiting in `queue`, oldest first."""
    client = redis.Redis.from_url(broker.url)
    found = []
    for raw in reversed(client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        found.append((message["headers"]["task"], args))
    return found


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_write_answered_2xx_is_committed_and_its_task_sent_after_the_commit(
    app: FastAPI, broker: RedisServer, engine: Engine, tenant_key: tuple[uuid.UUID, str]
) -> None:
    tenant_id, key = tenant_key
    with Session(engine) as session:
        name = session.get_one(Tenant, tenant_id).name
    waiting_at_commit: list[int] = []

    @event.listens_for(app.state.context.sessions, "after_commit")
    def _seen(_: Session) -> None:
        waiting_at_commit.append(len(_messages(broker, PLAN_QUEUE)))

    with TestClient(app) as client:
        response = client.post(
            "/v1/jobs",
            json={"source_uri": f"s3://media/{name}/talk.mp4", "target_lang": "en"},
            headers=_auth(key),
        )
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    # Another connection sees the row: the request committed it, not a session close.
    with Session(engine) as session:
        assert session.get(Job, uuid.UUID(job_id)) is not None
    assert waiting_at_commit and set(waiting_at_commit) == {0}
    assert _messages(broker, PLAN_QUEUE) == [(PLAN_JOB, [job_id])]


def test_a_handler_that_writes_and_returns_has_its_write_committed_without_asking(
    app: FastAPI, broker: RedisServer, engine: Engine, tenant_key: tuple[uuid.UUID, str]
) -> None:
    """No handler commits: a 2xx alone means the write is durable and its task sent."""
    _, key = tenant_key
    with TestClient(app) as client:
        response = client.post("/test/write", headers=_auth(key))
    assert response.status_code == 201
    job_id = response.json()["id"]
    with Session(engine) as session:
        assert session.get(Job, uuid.UUID(job_id)) is not None
    assert _messages(broker, PLAN_QUEUE) == [(PLAN_JOB, [job_id])]


def test_a_webhook_event_written_by_a_request_is_delivered_after_its_commit(
    app: FastAPI, broker: RedisServer, engine: Engine, tenant_key: tuple[uuid.UUID, str]
) -> None:
    tenant_id, key = tenant_key
    with Session(engine) as session:
        job = Job(
            tenant_id=tenant_id,
            source_uri="s3://media/x/talk.mp3",
            target_lang="en",
            outputs=["text"],
            output_prefix="s3://ltb-outputs/x/talk/",
            status="queued",
            callback_url="https://hooks.example.com/ltb",
        )
        session.add(job)
        session.commit()
        job_id = job.id
    waiting_at_commit: list[int] = []

    @event.listens_for(app.state.context.sessions, "after_commit")
    def _seen(_: Session) -> None:
        waiting_at_commit.append(len(_messages(broker, WEBHOOK_QUEUE)))

    with TestClient(app) as client:
        response = client.post(f"/v1/jobs/{job_id}/cancel", headers=_auth(key))
    assert response.status_code == 200, response.text
    with Session(engine) as session:
        event_id = session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.subject_id == job_id)
        ).one()
    assert set(waiting_at_commit) == {0}
    assert _messages(broker, WEBHOOK_QUEUE) == [(DELIVER_WEBHOOK, [str(event_id)])]


@pytest.mark.parametrize(("kind", "status"), [("refused", 409), ("broken", 500)])
def test_a_handler_that_fails_after_writing_rolls_back_and_sends_no_task(
    app: FastAPI,
    broker: RedisServer,
    engine: Engine,
    tenant_key: tuple[uuid.UUID, str],
    kind: str,
    status: int,
) -> None:
    tenant_id, key = tenant_key
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/test/fail-after-writing", params={"kind": kind}, headers=_auth(key)
        )
    assert response.status_code == status
    assert set(response.json()) == {"error"}
    with Session(engine) as session:
        written = session.scalars(select(Job.id).where(Job.tenant_id == tenant_id)).all()
    assert written == []
    assert _messages(broker, PLAN_QUEUE) == []


# --- the same queue in the workers' unit of work -----------------------------------------


def test_a_unit_of_work_runs_its_actions_once_committed_and_never_after_a_rollback(
    engine: Engine,
) -> None:
    factory = sessionmaker(engine, expire_on_commit=False)
    name = f"uow-{uuid.uuid4().hex[:8]}"
    seen: list[bool] = []

    def committed() -> None:
        # Run from the queue: another connection must already see the row.
        with Session(engine) as other:
            seen.append(other.scalar(select(Tenant.id).where(Tenant.name == name)) is not None)

    with unit_of_work(factory) as session:
        session.add(Tenant(name=name, read_prefixes=[]))
        session.flush()
        after_commit(session, committed)
        assert seen == []
    assert seen == [True]

    def broken_step() -> None:
        with unit_of_work(factory) as session:
            session.add(Tenant(name=f"{name}-2", read_prefixes=[]))
            session.flush()
            after_commit(session, lambda: seen.append(False))
            raise RuntimeError("the step broke")

    with pytest.raises(RuntimeError):
        broken_step()
    assert seen == [True]
    with Session(engine) as session:
        session.execute(text("DELETE FROM tenants WHERE name = :n"), {"n": name})
        session.commit()


def test_an_action_queued_before_a_rollback_inside_the_unit_is_dropped(engine: Engine) -> None:
    """A service that rolls back and carries on (an idempotency race) sends only what it
    queued after."""
    factory = sessionmaker(engine, expire_on_commit=False)
    ran: list[str] = []
    with unit_of_work(factory) as session:
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("before the rollback"))
        session.rollback()
        session.execute(text("SELECT 1"))
        after_commit(session, lambda: ran.append("after the rollback"))
    assert ran == ["after the rollback"]
