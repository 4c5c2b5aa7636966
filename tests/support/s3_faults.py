"""An S3 endpoint on loopback that answers every request with one chosen error, as a real
service does when it throttles, fails, redirects to another region or refuses a request.
moto cannot be told to fail, so storage error handling is checked against this."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Fault:
    status: int
    code: str
    requests: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        fault = self.server.fault
        fault.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{fault.code}</Code>'
            f"<Message>injected</Message><RequestId>fault-1</RequestId></Error>"
        ).encode()
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", "fault-1")
        if fault.status == 301:  # as AWS says where a bucket of another region lives
            self.send_header("x-amz-bucket-region", "eu-west-1")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer  # noqa: N815  (http.server names)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    fault: Fault


@contextmanager
def faulty_s3(status: int, code: str) -> Iterator[tuple[str, Fault]]:
    """Yields (endpoint URL, the fault): change the fault's fields to change the answer."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fault = Fault(status, code)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.fault
    finally:
        server.shutdown()
        server.server_close()
