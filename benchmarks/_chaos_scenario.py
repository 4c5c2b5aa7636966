"""What the chaos suite does while jobs run: a timeline of faults (worker kills, a Redis
restart, a Postgres outage, a frozen S3 server), a poller that watches chunks being
claimed, and probes that ask the API for work while Postgres is down.

Every loop here is bounded by a deadline; every fault is undone in `finally`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from benchmarks._chaos_books import Event
from benchmarks._chaos_infra import Kill, PrivatePostgres, WorkerFleet

FINAL = ("succeeded", "failed", "cancelled")
POLL_S = 1.0
PROBE_TIMEOUT_S = 10.0
PROBE_INTERVAL_S = 0.5
# How long after Postgres is back the API has to answer again before the probe gives up.
RECOVERY_WINDOW_S = 120.0


@dataclass(frozen=True)
class Timeline:
    """When each fault strikes, in seconds after the first chunk is claimed."""

    max_wait_for_work_s: float  # from the first submission; then the faults start anyway
    window_s: float  # worker kills happen only inside this window
    kill_every_s: float
    redis_at_s: float
    redis_down_s: float
    postgres_at_s: float
    postgres_down_s: float
    s3_at_s: float
    s3_down_s: float


class Monitor(threading.Thread):
    """Polls Postgres once a second: every claim of every chunk (attempts, started_at),
    and the status of the submitted jobs. Errors (Postgres down) skip a poll."""

    def __init__(self, database_url: str, job_ids: list[str]) -> None:
        super().__init__(name="chaos-monitor", daemon=True)
        self.database_url, self.job_ids = database_url, job_ids
        self.claims: set[tuple[str, int, float | None]] = set()
        self.statuses: dict[str, str] = {}
        self.stopped = threading.Event()
        self.failed_polls = 0

    @property
    def all_final(self) -> bool:
        return len(self.statuses) == len(self.job_ids) and all(
            status in FINAL for status in self.statuses.values()
        )

    def run(self) -> None:
        while not self.stopped.wait(POLL_S):
            self.poll()

    def poll(self) -> None:
        try:
            with psycopg.connect(self.database_url, connect_timeout=3) as connection:
                rows = connection.execute(
                    "SELECT id::text, attempts, extract(epoch FROM started_at)::float8 FROM chunks"
                ).fetchall()
                jobs = connection.execute(
                    "SELECT id::text, status FROM jobs WHERE id = ANY(%s::uuid[])",
                    (self.job_ids,),
                ).fetchall()
        except psycopg.Error:
            self.failed_polls += 1
            return
        self.claims.update(rows)
        self.statuses = dict(jobs)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)
        self.poll()


@dataclass
class ProbeLog:
    """What the API answered while Postgres was down, and after it came back."""

    while_down: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    after_restart: Counter[str] = field(default_factory=Counter)
    slowest_while_down_s: float = 0.0
    recovered_after_s: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "probes_while_down": sum(self.while_down.values()),
            "while_down": dict(self.while_down),
            "error_codes_while_down": dict(self.codes),
            "hangs": sum(n for name, n in self.while_down.items() if name.endswith(":hang")),
            "slowest_answer_while_down_s": round(self.slowest_while_down_s, 2),
            "after_restart_until_recovered": dict(self.after_restart),
            # From the start command to the first success; None: not within the window.
            "recovered_after_s": self.recovered_after_s,
        }


class ApiProbe(threading.Thread):
    """One kind of request (a read or a write), sent every half second while Postgres is
    down and until the API answers it again after Postgres is back."""

    def __init__(
        self,
        kind: str,
        request: httpx.Request,
        log: ProbeLog,
        lock: threading.Lock,
        postgres_up: threading.Event,
        up_at: list[float],
    ) -> None:
        super().__init__(name=f"chaos-probe-{kind}", daemon=True)
        self.kind, self.request, self.log, self.lock = kind, request, log, lock
        self.postgres_up, self.up_at = postgres_up, up_at
        self.give_up = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=PROBE_TIMEOUT_S) as http:
            for _ in range(10_000):  # bounded; the deadlines below end it long before
                if self.give_up.is_set():
                    break
                tick = time.monotonic()
                came_back = self.postgres_up.is_set()
                outcome, code = _classify(http, self.request)
                elapsed = time.monotonic() - tick
                with self.lock:
                    if came_back:
                        self.log.after_restart[f"{self.kind}:{outcome}"] += 1
                    else:
                        self.log.while_down[f"{self.kind}:{outcome}"] += 1
                        if code:
                            self.log.codes[code] += 1
                        self.log.slowest_while_down_s = max(self.log.slowest_while_down_s, elapsed)
                    if came_back and outcome == "2xx":
                        self.log.recovered_after_s[self.kind] = round(
                            time.time() - self.up_at[0], 1
                        )
                        return
                    if came_back and time.time() - self.up_at[0] > RECOVERY_WINDOW_S:
                        self.log.recovered_after_s[self.kind] = None
                        return
                time.sleep(max(0.0, PROBE_INTERVAL_S - elapsed))


def _classify(http: httpx.Client, request: httpx.Request) -> tuple[str, str | None]:
    try:
        response = http.send(request)
    except httpx.TimeoutException:
        return "hang", None
    except httpx.TransportError:
        return "connection_error", None
    code = None
    try:
        error = response.json().get("error")
        code = error.get("code") if isinstance(error, dict) else None
    except ValueError:
        pass
    if 200 <= response.status_code < 300:
        return "2xx", None
    if response.status_code == 503:
        return ("503_with_code" if code else "503_without_code"), code
    return f"{response.status_code}_{'with' if code else 'without'}_code", code


@dataclass
class Chaos:
    """Runs the timeline against the started service until every job is final or the
    deadline passes; records what it did."""

    timeline: Timeline
    fleet: WorkerFleet
    postgres: PrivatePostgres
    redis: Any  # support.redis_server.RedisServer
    moto: subprocess.Popen[bytes]
    database_url: str
    monitor: Monitor
    probe_requests: dict[str, httpx.Request]
    rng: random.Random
    kills: list[Kill] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    probe_log: ProbeLog = field(default_factory=ProbeLog)
    skipped: list[str] = field(default_factory=list)
    kills_not_made: int = 0
    anchor: float = 0.0  # when the first chunk was claimed: the faults' time zero

    def run(self, started: float, deadline: float) -> None:
        """Waits for the first chunk to be claimed (planning 100 jobs takes a while on a
        small machine, and a fault that strikes before any chunk runs tests little),
        then strikes each fault at its time after that moment."""
        t = self.timeline
        self.anchor = self._first_claim(min(deadline, started + t.max_wait_for_work_s))
        plan: list[tuple[float, str]] = [
            (t.redis_at_s, "redis_down"),
            (t.redis_at_s + t.redis_down_s, "redis_up"),
            (t.postgres_at_s, "postgres_down"),
            (t.postgres_at_s + t.postgres_down_s, "postgres_up"),
            (t.s3_at_s, "s3_stop"),
            (t.s3_at_s + t.s3_down_s, "s3_continue"),
        ]
        at = t.kill_every_s
        while at < t.window_s:
            plan.append((at + self.rng.uniform(-3.0, 3.0), "kill"))
            at += t.kill_every_s
        plan.sort()
        self._marks: dict[str, float] = {}
        self._pg_is_down = False
        self._s3_is_stopped = False
        self._probes: list[ApiProbe] = []
        self._pg_back = threading.Event()
        self._up_at: list[float] = [0.0]
        try:
            while time.time() < deadline:
                now = time.time() - self.anchor
                due = [item for item in plan if item[0] <= now]
                plan = [item for item in plan if item[0] > now]
                for _, action in due:
                    if action == "kill" and not self._kill():
                        if now < t.window_s + t.kill_every_s:
                            plan = sorted([*plan, (now + 1.0, "kill")])  # try again shortly
                        continue
                    if action != "kill":
                        getattr(self, f"_{action}")()
                faults_left = any(action != "kill" for _, action in plan)
                if self.monitor.all_final and not faults_left and not self._probing():
                    break
                time.sleep(0.25)
        finally:
            self._restore()
        self.skipped = [action for _, action in plan]

    def _first_claim(self, until: float) -> float:
        while time.time() < until and not any(attempts for _, attempts, _ in self.monitor.claims):
            time.sleep(0.25)
        return time.time()

    def _probing(self) -> bool:
        return any(probe.is_alive() for probe in self._probes)

    # --- faults -----------------------------------------------------------------------------

    def _kill(self) -> bool:
        """Kills a random worker among those that are up (their pool started); False
        when it cannot yet: none is up, or Postgres (which says what it holds) is down."""
        if self.monitor.all_final:
            return True
        ready = self.fleet.ready_slots()
        if not ready or self._pg_is_down:
            return False
        try:
            kill = self.fleet.kill(self.rng.choice(ready), self.database_url)
        except psycopg.Error:
            self.kills_not_made += 1  # the held chunks could not be read: no kill
            return True
        self.kills.append(kill)
        self.events.append(Event("worker_kill", kill.at, kill.at, frozenset(kill.held)))
        return True

    def _redis_down(self) -> None:
        self._marks["redis"] = time.time()
        self.redis.stop()  # SIGKILL; it keeps nothing (no persistence), as configured

    def _redis_up(self) -> None:
        self.redis.start()
        self.events.append(Event("redis_restart", self._marks["redis"], time.time()))

    def _postgres_down(self) -> None:
        self._marks["postgres"] = time.time()
        self.postgres.stop("fast")
        self._pg_is_down = True
        lock = threading.Lock()
        for kind, request in self.probe_requests.items():
            probe = ApiProbe(kind, request, self.probe_log, lock, self._pg_back, self._up_at)
            probe.start()
            self._probes.append(probe)

    def _postgres_up(self) -> None:
        # The probes count as "after" from the start command on: the server accepts
        # connections before `pg_ctl start` returns.
        self._up_at[0] = time.time()
        self._pg_back.set()
        self.postgres.start()
        self._pg_is_down = False
        self.events.append(Event("postgres_outage", self._marks["postgres"], time.time()))

    def _s3_stop(self) -> None:
        self._marks["s3"] = time.time()
        os.killpg(self.moto.pid, signal.SIGSTOP)
        self._s3_is_stopped = True

    def _s3_continue(self) -> None:
        os.killpg(self.moto.pid, signal.SIGCONT)
        self._s3_is_stopped = False
        self.events.append(Event("s3_freeze", self._marks["s3"], time.time()))

    def _restore(self) -> None:
        """Undoes whatever fault is still in force, so the teardown finds a whole system."""
        if self._s3_is_stopped:
            self._s3_continue()
        if self._pg_is_down:
            self._postgres_up()
        if "redis" in self._marks and not any(e.kind == "redis_restart" for e in self.events):
            self._redis_up()
        for probe in self._probes:
            probe.give_up.set()
            probe.join(timeout=PROBE_TIMEOUT_S + 5)
