"""A webhook receiver on loopback that records what arrives, and can be down or failing."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
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
    # Any address in 127.0.0.0/8 (Linux routes all of it to lo), so two receivers may share
    # a port on different loopback addresses.
    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    # Answer 503 to this many deliveries before accepting any.
    failures_left: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    # Deliveries answered 503, kept so tests can see what each retry carried.
    refused: list[Delivery] = field(default_factory=list)
    # Serve HTTPS with this context, recording the server name each client asked for.
    tls: ssl.SSLContext | None = None
    server_names: list[str | None] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/ltb"

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

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        if self.tls is not None:
            self.tls.sni_callback = lambda connection, name, context: self.server_names.append(name)
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
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
def receiver(
    *,
    start: bool = True,
    failures: int = 0,
    tls: ssl.SSLContext | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
) -> Iterator[Receiver]:
    hook = Receiver(host=host, port=port or free_port(), failures_left=failures, tls=tls)
    if start:
        hook.start()
    try:
        yield hook
    finally:
        hook.stop()


Answer = Callable[[socket.socket, threading.Event], None]


@dataclass
class RawReceiver:
    """A loopback TCP server whose answer a test scripts byte by byte: a trickle, an endless
    body, or silence. It reads each request whole, then runs `answer` on the connection."""

    answer: Answer
    port: int = field(default_factory=free_port)
    requests: list[bytes] = field(default_factory=list)
    bytes_sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _listener: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ltb"

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        self._spawn(self._accept)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._listener is not None:
            self._listener.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._spawn(self._serve, connection)

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536) or b"\r\n\r\n"
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    body += connection.recv(65536) or b"x" * length
                with self._lock:
                    self.requests.append(head + b"\r\n\r\n" + body)
                self.answer(_Counting(connection, self), self._stop)
            except OSError:
                pass  # the client hung up: that is what these tests provoke


class _Counting:
    """A socket that counts what its `sendall` got into the kernel."""

    def __init__(self, connection: socket.socket, receiver: RawReceiver) -> None:
        self._connection = connection
        self._receiver = receiver

    def sendall(self, data: bytes) -> None:
        self._connection.sendall(data)
        with self._receiver._lock:
            self._receiver.bytes_sent += len(data)


def trickle(interval_s: float, total_s: float) -> Answer:
    """A status line, then one header byte every `interval_s` for `total_s`."""

    def answer(connection: Any, stop: threading.Event) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(int(total_s / interval_s)):
            if stop.wait(interval_s):
                return
            connection.sendall(b"a")
        connection.sendall(b"\r\nContent-Length: 0\r\n\r\n")

    return answer


def endless_body(size: int) -> Answer:
    """A 200 announcing `size` bytes of body, sent as fast as the client takes them."""

    def answer(connection: Any, stop: threading.Event) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"\0" * 65536
        for _ in range(size // len(block)):
            if stop.is_set():
                return
            connection.sendall(block)

    return answer


def silence(connection: Any, stop: threading.Event) -> None:
    """Reads the request and never answers."""
    stop.wait()


@contextmanager
def raw_receiver(answer: Answer) -> Iterator[RawReceiver]:
    hook = RawReceiver(answer)
    hook.start()
    try:
        yield hook
    finally:
        hook.stop()
