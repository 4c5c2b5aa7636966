"""A webhook receiver on loopback that records what arrives, and can be down or failing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.processes import free_port


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    # Answer 503 to this many deliveries before accepting any.
    failures_left: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    # Deliveries answered 503, kept so tests can see what each retry carried.
    refused: list[Delivery] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ltb"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                delivery = Delivery(dict(self.headers.items()), body)
                with receiver._arrived:
                    if receiver.failures_left > 0:
                        receiver.failures_left -= 1
                        receiver.refused.append(delivery)
                        self.send_response(503)
                    else:
                        receiver.deliveries.append(delivery)
                        self.send_response(204)
                    receiver._arrived.notify_all()
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, *, timeout_s: float = 60.0) -> list[Delivery]:
        """Blocks until `count` deliveries were accepted (woken by each arrival)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.deliveries) >= count, timeout=timeout_s):
                raise AssertionError(
                    f"{len(self.deliveries)} of {count} webhooks arrived: {[d.headers.get('LTB-Event') for d in self.deliveries]}"
                )
            return list(self.deliveries)


@contextmanager
def receiver(*, start: bool = True, failures: int = 0) -> Iterator[Receiver]:
    hook = Receiver(failures_left=failures)
    if start:
        hook.start()
    try:
        yield hook
    finally:
        hook.stop()
