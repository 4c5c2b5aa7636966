"""The metrics listener `ltb api` runs beside the API: GET /metrics on its own socket.

It runs in the main process, in a thread, whatever the number of API worker processes:
one listener per `ltb api`, holding one set of monotonic counters, and no port for the
API workers to contend for. Its socket is bound before the API starts, so a port in use
is a clear error instead of a thread that quietly died.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from ltb.errors import LtbError

# How long `ltb api` waits for the listener to finish its scrape in flight on shutdown.
STOP_TIMEOUT_S = 5.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or an LtbError that says why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise LtbError(
            f"cannot listen for /metrics on {host}:{port}: {exc}. Set LTB_METRICS_HOST "
            f"and LTB_METRICS_PORT (or --metrics-host/--metrics-port).",
            code="metrics_listener_unavailable",
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise LtbError(
            f"cannot listen for /metrics on {host}:{port}: {exc.strerror or exc}. Set "
            f"LTB_METRICS_PORT (or --metrics-port) to a free port.",
            code="metrics_listener_unavailable",
        ) from None
    sock.set_inheritable(False)  # API worker processes must not hold it
    return sock


def metrics_listener(host: str, port: int) -> AbstractContextManager[None]:
    """Binds host:port now; serving starts when the returned context is entered."""
    sock = bind(host, port)
    return _serving(sock)


@contextmanager
def _serving(sock: socket.socket) -> Iterator[None]:
    import uvicorn

    from api.app import create_metrics_app

    server = uvicorn.Server(
        uvicorn.Config(create_metrics_app(), log_level="warning", access_log=False)
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="ltb-metrics", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_TIMEOUT_S)
        sock.close()
