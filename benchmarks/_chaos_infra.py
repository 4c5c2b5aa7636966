"""The parts the chaos suite breaks, each started privately so that breaking it touches
nothing else on the machine: a Postgres cluster of its own (initdb into a temporary
folder, on a free loopback port), moto's S3 server with its process at hand (to freeze
it), and a fleet of `ltb worker` process groups that can be killed and replaced."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from benchmarks._service import use_test_support, worker_process

# initdb and postgres refuse to run as root; the cluster then belongs to this account.
POSTGRES_ACCOUNT = "postgres"


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("no Postgres server binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throwaway Postgres cluster on 127.0.0.1:<port>, trust authentication."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.bin = _postgres_bin()
        self.data = Path(tempfile.mkdtemp(prefix="ltb-chaos-pg-"))
        self.log = self.data / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout_s: float = 60.0) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", POSTGRES_ACCOUNT, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout_s)

    def create(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.data, POSTGRES_ACCOUNT)
        cluster = self.data / "cluster"
        self._run("initdb", "-D", str(cluster), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.cluster = cluster

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.data} -c max_connections=300"
        )
        self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(self.cluster), "-l", str(self.log),
            "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.cluster))

    def running(self) -> bool:
        return (self.cluster / "postmaster.pid").exists()

    def destroy(self) -> None:
        """Stops the server however it is, then removes its files."""
        if getattr(self, "cluster", None) is not None and self.running():
            try:
                self.stop("immediate")
            except (subprocess.SubprocessError, OSError):
                pid = int((self.cluster / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGKILL)  # the postmaster this suite started
        shutil.rmtree(self.data, ignore_errors=True)


@contextmanager
def private_postgres(database: str) -> Iterator[tuple[PrivatePostgres, str]]:
    """A started private cluster with `database` created and migrated to head."""
    from ltb.db.migrate import upgrade

    use_test_support()
    from support.processes import free_port

    server = PrivatePostgres(free_port())
    try:
        server.create()
        server.start()
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        url = server.url(database)
        upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))
        yield server, url
    finally:
        server.destroy()


@contextmanager
def freezable_moto() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """moto's S3 server, with its process: a restart would lose every object, so the
    suite makes it unreachable by stopping the process (SIGSTOP), never by restarting."""
    use_test_support()
    from support.processes import BIN, free_port, running
    from support.s3 import AWS_TEST_ENV

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    args = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with running(args, ready_url=f"{endpoint}/moto-api/", env=AWS_TEST_ENV) as proc:
        try:
            yield endpoint, proc
        finally:
            # A stopped process cannot act on SIGTERM: let it go on before it is stopped.
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGCONT)


def group_pids(pgid: int) -> list[int]:
    """Every live process in a process group: a Celery worker and its pool children."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


@dataclass
class Kill:
    slot: int
    at: float  # epoch seconds
    pids: list[int]
    # Chunks the killed processes held at that moment: id -> claims so far (attempts).
    held: dict[str, int]
    running: int = 0  # chunks running fleet-wide at that moment, for context


@dataclass
class WorkerFleet:
    """`size` worker process groups; a killed one is replaced at once, as a process
    manager would restart it."""

    env: Mapping[str, str]
    logs: Path
    size: int
    stack: ExitStack = field(default_factory=ExitStack)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    generation: list[int] = field(default_factory=list)

    def __enter__(self) -> WorkerFleet:
        for slot in range(self.size):
            self.procs.append(self._start(slot, 0))
            self.generation.append(0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def _start(self, slot: int, generation: int) -> subprocess.Popen[bytes]:
        log = self.logs / f"worker-{slot}-{generation}.log"
        return self.stack.enter_context(worker_process(self.env, log))

    def ready_slots(self) -> list[int]:
        """Workers whose pool has started: a main process with children of its own. One
        still starting holds nothing, and killing it again and again tests nothing."""
        return [slot for slot, proc in enumerate(self.procs) if len(group_pids(proc.pid)) > 1]

    def kill(self, slot: int, database_url: str) -> Kill:
        """SIGKILL to the whole process group of one worker (no warm shutdown, no acks),
        noting first which chunks its processes hold (chunks.lease_owner is host:pid)."""
        proc = self.procs[slot]
        pids = group_pids(proc.pid)
        owners = [f"{socket.gethostname()}:{pid}" for pid in pids]
        with psycopg.connect(database_url, connect_timeout=5) as connection:
            held: dict[str, int] = dict(
                connection.execute(
                    "SELECT id::text, attempts FROM chunks "
                    "WHERE status = 'running' AND lease_owner = ANY(%s)",
                    (owners,),
                ).fetchall()
            )
            (running,) = connection.execute(
                "SELECT count(*) FROM chunks WHERE status = 'running'"
            ).fetchone() or (0,)
        at = time.time()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        self.generation[slot] += 1
        self.procs[slot] = self._start(slot, self.generation[slot])
        return Kill(slot=slot, at=at, pids=pids, held=held, running=int(running))
