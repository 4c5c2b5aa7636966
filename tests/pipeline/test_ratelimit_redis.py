"""The fleet-wide limiter against a real Redis: the window's bounds, settling, many
processes sharing one quota, and riding out a Redis restart."""

from __future__ import annotations

import bisect
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from ltb.errors import LtbError
from pipeline.ratelimit_redis import _ACQUIRE, RedisRateLimiter

from support.processes import REPO, free_port, stop

REDIS_URL = os.environ.get("LTB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
JITTER_CAP_S = 0.05  # the limiter's own cap on the jitter it adds to a wait
US = 1_000_000

MakeLimiter = Callable[..., RedisRateLimiter]


class Slept(Exception):
    """Raised by a fake sleep: the limiter asked to wait, and the test has seen enough."""


class RecordingSleep:
    """A `sleep` that records what it was asked and stops the acquire there."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        raise Slept


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL)
    yield conn
    conn.close()


@pytest.fixture
def make_limiter(client: redis.Redis) -> Iterator[MakeLimiter]:
    """Limiters on a name of their own; their keys are deleted afterwards."""
    made: list[RedisRateLimiter] = []
    name = f"ltb:test:{uuid.uuid4().hex}"

    def make(**kwargs: object) -> RedisRateLimiter:
        kwargs.setdefault("name", name)
        limiter = RedisRateLimiter(kwargs.pop("url", REDIS_URL), **kwargs)  # type: ignore[arg-type]
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        client.delete(*limiter.keys)
        limiter.close()


def server_time_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * US + int(micros)


def test_rpm_sixth_request_waits_for_the_oldest_entry(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    sleep = RecordingSleep()
    limiter = make_limiter(rpm=5, tpm=1_000_000, window_s=2.0, sleep=sleep)
    first, *_ = [limiter.acquire(10) for _ in range(5)]
    assert not sleep.calls

    before_us = server_time_us(client)
    with pytest.raises(Slept):
        limiter.acquire(10)
    after_us = server_time_us(client)

    expiry_us = first.admitted_at_us + 2 * US
    (wait_s,) = sleep.calls
    assert (expiry_us - after_us) / US <= wait_s <= (expiry_us - before_us) / US + JITTER_CAP_S


def test_rpm_admits_again_once_the_oldest_entry_expires(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(rpm=2, tpm=1_000_000, window_s=1.0)
    first = limiter.acquire(1)
    limiter.acquire(1)

    third = limiter.acquire(1)

    assert third.admitted_at_us >= first.admitted_at_us + US
    assert third.waited_s > 0
    assert limiter.waited_s_total == pytest.approx(third.waited_s)


def test_tpm_waits_for_the_first_expiry_that_frees_enough(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    sleep = RecordingSleep()
    limiter = make_limiter(rpm=100, tpm=1000, window_s=2.0, sleep=sleep)
    older = limiter.acquire(300)
    newer = limiter.acquire(600)

    # 900 + 200 fits once the 300 expires; 900 + 500 only once both have.
    for tokens, entry in [(200, older), (500, newer)]:
        before_us = server_time_us(client)
        with pytest.raises(Slept):
            limiter.acquire(tokens)
        after_us = server_time_us(client)
        expiry_us = entry.admitted_at_us + 2 * US
        wait_s = sleep.calls.pop()
        assert (expiry_us - after_us) / US <= wait_s <= (expiry_us - before_us) / US + JITTER_CAP_S

    assert limiter.acquire(100).waited_s == 0  # 900 + 100 fits now


def test_settling_down_makes_room_and_settling_up_takes_it(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    sleep = RecordingSleep()
    limiter = make_limiter(rpm=100, tpm=1000, window_s=60.0, sleep=sleep)
    estimated = limiter.acquire(900)
    with pytest.raises(Slept):
        limiter.acquire(200)

    limiter.settle(estimated, 100)
    assert int(client.get(limiter.keys[2]) or 0) == 100
    assert limiter.acquire(200).waited_s == 0

    limiter.settle(estimated, 800)
    assert int(client.get(limiter.keys[2]) or 0) == 1000
    with pytest.raises(Slept):
        limiter.acquire(1)


def test_settling_an_expired_reservation_changes_nothing(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    limiter = make_limiter(rpm=1, tpm=1000, window_s=0.3)
    expired = limiter.acquire(100)
    current = limiter.acquire(40)  # admitted only once `expired` has left the window
    assert current.admitted_at_us >= expired.admitted_at_us + 0.3 * US

    limiter.settle(expired, 700)

    assert int(client.get(limiter.keys[2]) or 0) == 40
    assert client.hgetall(limiter.keys[1]) == {current.id.encode(): b"40"}


def test_a_call_bigger_than_the_quota_is_capped_and_waits_for_an_empty_window(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    sleep = RecordingSleep()
    limiter = make_limiter(rpm=100, tpm=1000, window_s=2.0, sleep=sleep)
    huge = limiter.acquire(5000)
    assert huge.tokens == 1000 and huge.waited_s == 0

    before_us = server_time_us(client)
    with pytest.raises(Slept):
        limiter.acquire(5000)
    (wait_s,) = sleep.calls
    assert wait_s >= (huge.admitted_at_us + 2 * US - server_time_us(client)) / US
    assert wait_s <= (huge.admitted_at_us + 2 * US - before_us) / US + JITTER_CAP_S


def test_a_wait_longer_than_max_wait_raises_a_clear_error(make_limiter: MakeLimiter) -> None:
    sleep = RecordingSleep()
    limiter = make_limiter(rpm=1, tpm=1000, window_s=60.0, sleep=sleep, max_wait_s=5.0)
    limiter.acquire(1)

    with pytest.raises(LtbError) as raised:
        limiter.acquire(1)

    assert raised.value.code == "rate_limit_wait_exceeded"
    assert not sleep.calls


def test_a_retried_admission_is_counted_once(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    limiter = make_limiter(rpm=10, tpm=1000, window_s=60.0)
    # As if the reply to the first try was lost and the client sent it again.
    first = limiter._run(_ACQUIRE, "same-id", 100, limiter.rpm, limiter.tpm)
    again = limiter._run(_ACQUIRE, "same-id", 100, limiter.rpm, limiter.tpm)

    assert first == again and first[0] == 1
    assert client.zcard(limiter.keys[0]) == 1
    assert int(client.get(limiter.keys[2]) or 0) == 100


def test_keys_outlive_the_window_only_briefly(
    make_limiter: MakeLimiter, client: redis.Redis
) -> None:
    limiter = make_limiter(rpm=10, tpm=1000, window_s=5.0)
    limiter.settle(limiter.acquire(10), 20)

    for key in limiter.keys:
        assert 5000 < client.pttl(key) <= 6000


# Each process says it is ready, reads a stop time (server clock, µs), then takes
# admissions until one lands at or after it, and prints their times.
FLEET_MEMBER = """
import json, sys
from pipeline.ratelimit_redis import RedisRateLimiter
limiter = RedisRateLimiter(sys.argv[1], rpm=20, tpm=10**9, name=sys.argv[2], window_s=2.0)
print("ready", flush=True)
stop_us = int(sys.stdin.readline())
times = []
while not times or times[-1] < stop_us:
    times.append(limiter.acquire(1).admitted_at_us)
print(json.dumps(times))
"""


def test_a_fleet_of_processes_shares_one_window_and_fills_it(client: redis.Redis) -> None:
    name = f"ltb:test:{uuid.uuid4().hex}"
    rpm, window_us = 20, 2 * US
    members = [
        subprocess.Popen(
            [sys.executable, "-c", FLEET_MEMBER, REDIS_URL, name],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    try:
        # Start together, so the run measures the limiter rather than interpreter start-up.
        for member in members:
            assert member.stdout is not None and member.stdout.readline() == b"ready\n"
        stop_us = server_time_us(client) + 3 * window_us + 100_000
        for member in members:
            assert member.stdin is not None
            member.stdin.write(f"{stop_us}\n".encode())
            member.stdin.flush()  # communicate() closes it
        outputs = [member.communicate(timeout=60)[0] for member in members]
    finally:
        for member in members:
            member.kill()
            member.wait()
        client.delete(f"{{{name}}}:ids", f"{{{name}}}:tokens", f"{{{name}}}:sum")
    assert all(member.returncode == 0 for member in members)
    # Whoever wakes first after an expiry takes every slot already free, so the shares are
    # uneven; what matters is that the four together never overran the window.
    times = sorted(t for out in outputs for t in json.loads(out))

    # No sliding window, wherever it starts, holds more than rpm admissions.
    busiest = max(bisect.bisect_left(times, t + window_us) - i for i, t in enumerate(times))
    assert busiest <= rpm

    # Every whole window from the first admission to the stop was (nearly) full.
    start = times[0]
    full_windows = (stop_us - start) // window_us
    assert full_windows == 3
    for k in range(full_windows):
        lo = start + k * window_us
        in_window = bisect.bisect_left(times, lo + window_us) - bisect.bisect_left(times, lo)
        assert in_window >= 0.9 * rpm, f"window {k} admitted only {in_window}"


def start_redis_server(port: int) -> subprocess.Popen[bytes]:
    """A throwaway redis-server with no persistence, answering on `port`."""
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    proc = subprocess.Popen(
        [*args, "--appendonly", "no"], stdout=subprocess.DEVNULL, start_new_session=True
    )
    probe = redis.Redis(port=port, socket_connect_timeout=1.0)
    deadline = time.monotonic() + 20
    try:
        while True:  # readiness poll: the server's own answer, not a guess at time
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}")
            try:
                probe.ping()
                return proc
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    stop(proc, sig=signal.SIGKILL)
                    raise
                time.sleep(0.02)
    finally:
        probe.close()


def test_acquire_holds_through_a_redis_restart_and_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    retrying = threading.Event()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 2:
            retrying.set()
        time.sleep(seconds)

    servers = [start_redis_server(port)]
    # max_wait_s only bounds a failing run: the waiting thread cannot outlive the test.
    limiter = RedisRateLimiter(
        f"redis://127.0.0.1:{port}/0", rpm=10, tpm=1000, sleep=sleep, max_wait_s=60
    )
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        before = limiter.acquire(10)
        stop(servers[0], sig=signal.SIGKILL)
        caplog.set_level(logging.INFO, logger="ltb.ratelimit")

        limiter.settle(before, 5)  # best effort: swallowed during the outage
        pending = pool.submit(limiter.acquire, 10)
        assert retrying.wait(timeout=20), "acquire did not retry"
        assert not pending.done(), f"acquire gave up during the outage: {pending.exception()}"

        servers.append(start_redis_server(port))
        after = pending.result(timeout=30)
    finally:
        pool.shutdown(wait=False)
        for server in servers:
            stop(server, sig=signal.SIGKILL)
        limiter.close()

    assert after.tokens == 10
    assert after.waited_s == pytest.approx(sum(sleeps))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert any("back after" in r.getMessage() for r in caplog.records)
