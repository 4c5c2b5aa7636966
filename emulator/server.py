"""Running the emulator: in the foreground for `ltb emulator`, or on a background thread for
code that needs a provider in-process (`ltb translate` with no key configured, tests)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.stream import StreamCut

BASE_PATH = "/compatible-mode/v1"
# Open streams (a stalled one, say) must not hold a shutdown for long.
GRACEFUL_SHUTDOWN_S = 2


class _DeliberateCutFilter(logging.Filter):
    """Drops uvicorn's traceback for a stream the emulator cut on purpose; it is a feature,
    and an error log for it would bury real errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamCut))


def _uvicorn_config(config: EmulatorConfig, *, host: str, port: int) -> uvicorn.Config:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DeliberateCutFilter) for f in logger.filters):
        logger.addFilter(_DeliberateCutFilter())
    return uvicorn.Config(
        create_app(config),
        host=host,
        port=port,
        # h11 always ships with uvicorn, so a cut stream looks the same on every machine.
        http="h11",
        # The realtime engine's WebSocket; sans-I/O websockets drops the TCP connection
        # (no close frame) when the application raises, which is how a cut is staged.
        ws="websockets-sansio",
        # Warnings and errors only: request lines would log every request, never a secret,
        # but nobody reads them.
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )


def run(config: EmulatorConfig, *, host: str, port: int) -> None:
    """Serves until interrupted (SIGINT/SIGTERM)."""
    uvicorn.Server(_uvicorn_config(config, host=host, port=port)).run()


@contextmanager
def serve_in_thread(
    config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", start_timeout_s: float = 30.0
) -> Iterator[str]:
    """Runs an emulator on a free loopback port for the duration of the block and yields its
    base URL (`http://127.0.0.1:<port>/compatible-mode/v1`), ready for requests."""
    # Binding the socket here, before uvicorn starts, gives the port without a race.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_uvicorn_config(config or EmulatorConfig(), host=host, port=port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ltb-emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        # `started` is uvicorn's own readiness flag, set once the socket is listening.
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the emulator did not start within {start_timeout_s} s")
            time.sleep(0.01)
        yield f"http://{host}:{port}{BASE_PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=GRACEFUL_SHUTDOWN_S + 10)
        sock.close()
