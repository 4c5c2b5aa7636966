"""Delivering one webhook in-process against real Postgres and real loopback receivers:
the address that was checked is the one connected to, a slow or endless receiver is cut
off at the overall deadline, every attempt counts, and logs never carry a whole URL."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from sqlalchemy.orm import Session, sessionmaker

from ltb.db.engine import session_factory, unit_of_work
from ltb.db.models import Job, Tenant, WebhookEvent
from ltb.pricing import load_price_book
from ltb.queue import make_celery
from ltb.settings import Settings
from ltb.storage import object_store
from ltb.webhooks import Address, resolve_callback
from pipeline.provider import ProviderClient, Timeouts
from pipeline.ratelimit import LocalRateLimiter
from pipeline.translate import RetryPolicy
from worker import webhook_step
from worker.context import WorkerContext
from worker.webhook_http import post

from support.postgres import fresh_database
from support.tls import certificates_for
from support.webhook_receiver import endless_body, raw_receiver, receiver, silence, trickle

REBOUND_HOST = "hooks.rebinding.test"
# Both answers of the rebinding resolver are loopback (Linux routes all of 127.0.0.0/8 to
# lo), so nothing a test sends leaves the machine: the first plays a public host the check
# lets through, the second an inside address a second lookup would send the POST to.
CHECKED_ADDRESS = "127.0.0.1"
REBOUND_ADDRESS = "127.0.0.2"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection off this machine, or a lookup the system's resolver would send out,
    fails the test instead of being made: these tests use made-up names, and a mistake
    must not send a webhook, or a DNS query, anywhere real."""
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise AssertionError(f"a connection to {address[0]}, off this machine")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and host != "localhost" and not _loopback(host):
            raise AssertionError(f"a DNS lookup of {host!r}, off this machine")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture
def checked_address_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """The address check takes CHECKED_ADDRESS for a public host, and nothing else changes.
    The check must run, and pass, for a rebinding to have anything to get round; a real
    public address cannot stand in, as no test may send to one."""
    judged = vars(ipaddress.IPv4Address)["is_global"]

    def is_global(address: ipaddress.IPv4Address) -> bool:
        return str(address) == CHECKED_ADDRESS or bool(judged.fget(address))

    monkeypatch.setattr(ipaddress.IPv4Address, "is_global", property(is_global))


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with fresh_database("webhooks") as url:
        yield url


@pytest.fixture
def make_context(database_url: str, tmp_path: Path) -> Callable[..., WorkerContext]:
    """A worker's context on the test database; settings overridable per test."""

    def make(**overrides: Any) -> WorkerContext:
        settings = Settings(
            profile="embedded",
            home=tmp_path / "home",
            database_url=database_url,
            broker_url="memory://",
            storage_root=tmp_path / "objects",
            output_bucket="ltb-outputs",
            **overrides,
        )
        return WorkerContext(
            settings=settings,
            sessions=session_factory(settings),
            store=object_store(settings),
            queue=make_celery(settings),
            prices=load_price_book(settings.price_table_file),
            client=ProviderClient(
                base_url="http://127.0.0.1:9/v1",
                api_key="unused",
                model=settings.model,
                timeouts=Timeouts(connect_s=1, first_byte_s=1, total_s=1),
            ),
            limiter=LocalRateLimiter(rpm=60, tpm=100_000),
            policy=RetryPolicy(max_attempts=1, base_s=0.1, max_s=0.1),
            owner="test",
        )

    return make


def pending_event(sessions: sessionmaker[Session], url: str) -> uuid.UUID:
    """A finished job with a pending job.succeeded event for `url`, committed."""
    with unit_of_work(sessions) as session:
        tenant = Tenant(name=f"hooks-{uuid.uuid4().hex[:8]}", read_prefixes=["s3://media/x/"])
        session.add(tenant)
        session.flush()
        job = Job(
            tenant_id=tenant.id,
            source_uri="s3://media/x/a.mp3",
            target_lang="en",
            outputs=["text"],
            output_prefix="s3://ltb-outputs/x/",
            labels={},
            status="succeeded",
            callback_url=url,
        )
        session.add(job)
        session.flush()
        event = WebhookEvent(tenant_id=tenant.id, event="job.succeeded", subject_id=job.id, url=url)
        session.add(event)
        session.flush()
        return event.id


def event_row(sessions: sessionmaker[Session], event_id: uuid.UUID) -> WebhookEvent:
    with sessions() as session:
        return session.get_one(WebhookEvent, event_id)


@contextlib.contextmanager
def dns(monkeypatch: pytest.MonkeyPatch, answer: Callable[[int], str]) -> Iterator[list[str]]:
    """The process's resolver, for REBOUND_HOST only: `answer(n)` is the address the n-th
    lookup gets. Every other name goes on to the resolver replaced (loopback_only's)."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != REBOUND_HOST:
            return real(host, port, *args, **kwargs)
        address = answer(len(answers))
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield answers


def rebinding(lookup: int) -> str:
    """DNS rebinding with a zero TTL: the address checked first, another ever after."""
    return CHECKED_ADDRESS if lookup == 0 else REBOUND_ADDRESS


def backdate(sessions: sessionmaker[Session], event_id: uuid.UUID, seconds: float) -> None:
    """Moves an event `seconds` into the past and makes it due, as time passing would."""
    with unit_of_work(sessions) as session:
        event = session.get_one(WebhookEvent, event_id)
        event.created_at -= timedelta(seconds=seconds)
        event.next_attempt_at = datetime.now(UTC) - timedelta(seconds=1)


@contextlib.contextmanager
def soft_time_limit(after_s: float) -> Iterator[None]:
    """What Celery's prefork pool does at the soft time limit: a signal whose handler raises
    SoftTimeLimitExceeded wherever the task happens to be."""

    def strike(signum: int, frame: FrameType | None) -> None:
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, strike)
    signal.setitimer(signal.ITIMER_REAL, after_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_rebound_name_is_posted_to_the_address_that_was_checked(
    make_context: Callable[..., WorkerContext],
    monkeypatch: pytest.MonkeyPatch,
    checked_address_is_public: None,
) -> None:
    ctx = make_context(webhook_allow_private=False, webhook_timeout_s=5.0)
    # One receiver on each answer, on the same port: whichever the POST reached says which
    # lookup it followed.
    with (
        receiver(host=CHECKED_ADDRESS) as checked,
        receiver(host=REBOUND_ADDRESS, port=checked.port) as rebound,
        dns(monkeypatch, rebinding) as answers,
    ):
        url = f"http://{REBOUND_HOST}:{checked.port}/hooks/ltb"
        event_id = pending_event(ctx.sessions, url)
        webhook_step.deliver(ctx, event_id)
        # deliver() returns once a receiver answered, and each records before answering.
        arrived = {
            CHECKED_ADDRESS: len(checked.deliveries + checked.refused),
            REBOUND_ADDRESS: len(rebound.deliveries + rebound.refused),
        }
    assert arrived == {CHECKED_ADDRESS: 1, REBOUND_ADDRESS: 0}, "the POST looked the name up again"
    assert answers == [CHECKED_ADDRESS], "the name was looked up more than once"
    event = event_row(ctx.sessions, event_id)
    assert event.status == "delivered" and event.attempts == 1


def test_a_name_that_now_resolves_inside_the_network_is_given_up_unsent(
    make_context: Callable[..., WorkerContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_context(webhook_allow_private=False, webhook_timeout_s=5.0)
    with receiver() as loopback, dns(monkeypatch, lambda lookup: "127.0.0.1") as answers:
        url = f"http://{REBOUND_HOST}:{loopback.port}/hooks/ltb"
        event_id = pending_event(ctx.sessions, url)
        webhook_step.deliver(ctx, event_id)
        arrived = loopback.deliveries + loopback.refused
    assert arrived == [] and answers == ["127.0.0.1"]
    # Given up at once, unsent: a URL that points inside the network is never retried.
    event = event_row(ctx.sessions, event_id)
    assert event.status == "failed" and event.attempts == 1
    assert event.last_error and "callback_url" in event.last_error


def test_the_pinned_connection_keeps_the_name_in_the_host_header(
    make_context: Callable[..., WorkerContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Private addresses allowed, so the name may resolve to the loopback receiver.
    ctx = make_context(webhook_allow_private=True, webhook_timeout_s=5.0)
    with receiver() as loopback, dns(monkeypatch, lambda lookup: "127.0.0.1"):
        url = f"http://{REBOUND_HOST}:{loopback.port}/hooks/ltb"
        event_id = pending_event(ctx.sessions, url)
        webhook_step.deliver(ctx, event_id)
        (delivery,) = loopback.wait_for(1, timeout_s=10)
    assert delivery.headers["Host"] == f"{REBOUND_HOST}:{loopback.port}"
    assert event_row(ctx.sessions, event_id).status == "delivered"


def test_tls_is_checked_against_the_callbacks_name_on_the_pinned_address(
    tmp_path: Path,
) -> None:
    certificates = certificates_for(REBOUND_HOST, tmp_path)

    def loopback(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("127.0.0.1")]

    with receiver(tls=certificates.server_context()) as hook:
        answers = {
            name: post(
                resolve_callback(
                    f"https://{name}:{hook.port}/hooks/ltb", allow_private=True, resolver=loopback
                ),
                b"{}",
                {"Content-Type": "application/json"},
                deadline_s=5.0,
                ssl_context=certificates.client_context(),
            )
            for name in (REBOUND_HOST, "elsewhere.test")
        }
        (delivery,) = hook.wait_for(1, timeout_s=10)
    # SNI, the certificate check and Host all used the name, not the address dialled.
    assert answers[REBOUND_HOST].ok, answers
    assert hook.server_names[0] == REBOUND_HOST
    assert delivery.headers["Host"] == f"{REBOUND_HOST}:{hook.port}"
    # The certificate does not name the other host: refused, though the address is the same.
    refused = answers["elsewhere.test"]
    assert not refused.ok and refused.error and "certificate" in refused.error.lower(), refused


def test_a_trickling_receiver_is_cut_off_at_the_overall_deadline(
    make_context: Callable[..., WorkerContext],
) -> None:
    # One byte every 0.3 s never trips a per-read timeout of 1 s; only a deadline ends it.
    ctx = make_context(webhook_allow_private=True, webhook_timeout_s=1.0)
    with raw_receiver(trickle(interval_s=0.3, total_s=15)) as hook:
        event_id = pending_event(ctx.sessions, hook.url)
        started = time.monotonic()
        webhook_step.deliver(ctx, event_id)
        took = time.monotonic() - started
    assert took < 2.5, f"the delivery ran {took:.1f} s against a 1 s deadline"
    event = event_row(ctx.sessions, event_id)
    assert event.status == "pending" and event.attempts == 1
    assert event.last_error and "Timeout" in event.last_error
    assert event.next_attempt_at > datetime.now(UTC)


def test_a_huge_response_body_is_not_read_whole(
    make_context: Callable[..., WorkerContext],
) -> None:
    size = 128 * 1024 * 1024
    ctx = make_context(webhook_allow_private=True, webhook_timeout_s=30.0)
    with raw_receiver(endless_body(size)) as hook:
        event_id = pending_event(ctx.sessions, hook.url)
        webhook_step.deliver(ctx, event_id)
        sent = hook.bytes_sent
    # The receiver's 2xx counts; the worker hung up long before the announced body ended
    # (what it sent is what the kernel's socket buffers took, a few MB at most).
    assert event_row(ctx.sessions, event_id).status == "delivered"
    assert sent < 24 * 1024 * 1024, f"{sent} of {size} body bytes were taken"


def test_an_attempt_that_dies_midway_counts_and_retries_end_after_the_window(
    make_context: Callable[..., WorkerContext],
) -> None:
    window_s = 600.0
    ctx = make_context(
        webhook_allow_private=True, webhook_timeout_s=30.0, webhook_retry_window_s=window_s
    )
    with raw_receiver(silence) as hook:
        event_id = pending_event(ctx.sessions, hook.url)
        with contextlib.suppress(SoftTimeLimitExceeded), soft_time_limit(0.5):
            webhook_step.deliver(ctx, event_id)
        assert len(hook.requests) == 1
        event = event_row(ctx.sessions, event_id)
        # Counted, and not due again at once: the reaper does not re-send it every sweep.
        assert event.attempts == 1 and event.status == "pending"
        assert event.next_attempt_at > datetime.now(UTC)

        # Later, past the retry window, the reaper sends it again: it is given up.
        backdate(ctx.sessions, event_id, window_s + 1)
        with contextlib.suppress(SoftTimeLimitExceeded), soft_time_limit(0.5):
            webhook_step.deliver(ctx, event_id)
        event = event_row(ctx.sessions, event_id)
        assert event.status == "failed", (event.status, event.attempts, event.last_error)
        assert len(hook.requests) <= 2


def test_log_lines_carry_only_the_scheme_and_host_of_a_callback_url(
    make_context: Callable[..., WorkerContext], caplog: pytest.LogCaptureFixture
) -> None:
    window_s = 60.0
    ctx = make_context(webhook_allow_private=True, webhook_retry_window_s=window_s)
    with receiver(failures=5) as hook:
        url = f"http://127.0.0.1:{hook.port}/hooks/tok_SECRET1?sig=SECRET2"
        event_id = pending_event(ctx.sessions, url)
        # Past the window: this failure is the last, and giving up is logged.
        backdate(ctx.sessions, event_id, window_s + 1)
        with caplog.at_level(logging.DEBUG, logger="ltb"):
            webhook_step.deliver(ctx, event_id)
    assert len(hook.refused) == 1
    assert event_row(ctx.sessions, event_id).status == "failed"
    lines = [record.getMessage() for record in caplog.records]
    assert any(f"http://127.0.0.1:{hook.port}" in line for line in lines), lines
    assert not any("SECRET" in line or "/hooks" in line for line in lines), lines
