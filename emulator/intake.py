"""Getting the request's media onto disk: a data URI decoded, or a URL fetched.

The decoders (PyAV, OpenCV) read files, and untrusted bytes are easier to cap on disk than
in memory, so both routes end in a temporary file that the caller removes.
"""

from __future__ import annotations

import binascii
import contextlib
import ipaddress
import shutil
import tempfile
from base64 import b64decode
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import httpx

from emulator.config import LOOPBACK, MAX_DATA_URI_CHARS, EmulatorConfig
from emulator.errors import invalid_parameter


@contextlib.asynccontextmanager
async def received_media(ref: str, *, config: EmulatorConfig, param: str) -> AsyncIterator[Path]:
    """The media behind `ref` as a temporary file, removed when the block ends."""
    # The file is named "media": decoder messages quote its name, and that name is all the
    # client should see of the emulator's disk.
    scratch = Path(tempfile.mkdtemp(prefix="ltb-emulator-"))
    path = scratch / "media"
    try:
        with path.open("wb") as sink:
            if ref.startswith("data:"):
                sink.write(decode_data_uri(ref, param=param))
            elif ref.startswith(("http://", "https://")):
                await _fetch(ref, sink, config=config, param=param)
            else:
                raise invalid_parameter(
                    "The media must be a data URI (data:<mime>;base64,...) or an http(s) URL.",
                    param=param,
                )
        yield path
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def decode_data_uri(uri: str, *, param: str) -> bytes:
    """The bytes of a `data:<mime>;base64,<payload>` URI, within the provider's size limit."""
    if len(uri) > MAX_DATA_URI_CHARS:
        raise invalid_parameter(
            f"The data URI is {len(uri):,} characters; the limit is {MAX_DATA_URI_CHARS:,} "
            "(about 7.5 MB of media). Send larger files by URL.",
            param=param,
        )
    header, sep, payload = uri.partition(",")
    if not sep or not header.endswith(";base64"):
        raise invalid_parameter(
            "The data URI must have the form data:<mime>;base64,<payload>.", param=param
        )
    if not payload:
        raise invalid_parameter("The media is empty.", param=param)
    try:
        media = b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_parameter(
            "The data URI's payload is not valid base64.", param=param
        ) from None
    if not media:
        raise invalid_parameter("The media is empty.", param=param)
    return media


def host_allowed(url: str, allow_hosts: tuple[str, ...]) -> bool:
    """Whether the emulator may fetch `url`: its host is listed, or loopback is allowed."""
    host = (urlsplit(url).hostname or "").lower()
    if not host:
        return False
    if "*" in allow_hosts or host in allow_hosts:
        return True
    if LOOPBACK not in allow_hosts:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _fetch(url: str, sink: BinaryIO, *, config: EmulatorConfig, param: str) -> None:
    if not host_allowed(url, config.url_allow_hosts):
        raise invalid_parameter(
            "The media URL's host is not reachable from the provider "
            "(this emulator fetches only from allowed hosts; loopback by default).",
            param=param,
        )
    written = 0
    # Redirects are not followed: each hop would need the host check again, and presigned
    # object-store URLs answer directly.
    try:
        async with (
            httpx.AsyncClient(timeout=config.fetch_timeout_s, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise invalid_parameter(
                    f"The media URL could not be downloaded (HTTP {response.status_code}).",
                    param=param,
                )
            async for piece in response.aiter_bytes():
                written += len(piece)
                if written > config.max_fetch_bytes:
                    raise invalid_parameter(
                        f"The media at the URL exceeds {config.max_fetch_bytes:,} bytes.",
                        param=param,
                    )
                sink.write(piece)
    except httpx.HTTPError as exc:
        raise invalid_parameter(
            f"The media URL could not be downloaded ({type(exc).__name__}).", param=param
        ) from None
    if written == 0:
        raise invalid_parameter("The media is empty.", param=param)
