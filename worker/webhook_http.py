"""One webhook POST, pinned and bounded.

Pinned: the connection goes to an address the SSRF check saw (`Target.addresses`), never
to whatever a second DNS lookup says, while the URL, the Host header and the TLS server
name (SNI and certificate check) stay the callback's own host name.

Bounded: one deadline covers connecting, TLS, sending and reading, however slowly a
receiver trickles bytes (httpx's timeouts are per read), and at most RESPONSE_CAP bytes
of the answer are read; only its status matters.
"""

from __future__ import annotations

import ssl
import time
import typing
from dataclasses import dataclass

import httpcore

from ltb.webhooks import Target

RESPONSE_CAP = 64 * 1024

_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    deadline_s: float,
    ssl_context: ssl.SSLContext | None = None,
) -> Answer:
    """POSTs `body` to `target`; the answer's status, or what went wrong, within deadline_s."""
    deadline = time.monotonic() + deadline_s
    backend = _PinnedBackend(target, deadline)
    pool = httpcore.ConnectionPool(
        ssl_context=ssl_context, network_backend=backend, max_connections=1, retries=0
    )
    timeouts = {phase: deadline_s for phase in ("connect", "read", "write", "pool")}
    try:
        with (
            pool,
            pool.stream(
                "POST",
                target.url,
                headers=list(headers.items()),
                content=body,
                extensions={"timeout": timeouts},
            ) as response,
        ):
            status = response.status
            _read_some(response)
    except _TRANSPORT_ERRORS as exc:
        return Answer(status=None, error=f"{type(exc).__name__}: {exc}"[:500])
    return Answer(status=status, error=None if 200 <= status < 300 else f"HTTP {status}")


def _read_some(response: httpcore.Response) -> None:
    """Reads at most RESPONSE_CAP bytes of the body; the status already decided."""
    received = 0
    try:
        for piece in response.iter_stream():
            received += len(piece)
            if received >= RESPONSE_CAP:
                return
    except _TRANSPORT_ERRORS:
        pass


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the target's checked addresses in turn, whatever host it is asked for."""

    def __init__(self, target: Target, deadline: float) -> None:
        self._target = target
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"no address for {self._target.host}")
        for address in self._target.addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_left(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are never sent over a unix socket")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    """Every read, write and handshake waits at most until the deadline, not per call."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # server_hostname is the URL's host name: SNI and the certificate check use it.
        secured = self._inner.start_tls(
            ssl_context,
            server_hostname=server_hostname,
            timeout=_left(self._deadline, timeout, httpcore.ConnectTimeout),
        )
        return _DeadlineStream(secured, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


def _left(deadline: float, timeout: float | None, expired: type[Exception]) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the delivery's overall deadline passed")
    return remaining if timeout is None else min(timeout, remaining)
