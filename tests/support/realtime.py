"""A realtime client written the way the provider's sample writes one: the `websockets`
library, a bearer header, session.update, 100 ms appends of 16 kHz PCM16, optional JPEG
frames, an event loop reading everything the server sends, and session.finish at the end of
the file. Only the URL differs from what a real client would use."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

MODEL = "qwen3-livetranslate-flash-realtime"
INPUT_CHUNK_SAMPLES = 1600  # 100 ms at 16 kHz, as the sample reads its microphone
OUTPUT_RATE_HZ = 24_000


class HasRoot(Protocol):
    root_url: str


def realtime_url(emulator: HasRoot, model: str | None = MODEL) -> str:
    base = emulator.root_url.replace("http://", "ws://") + "/api-ws/v1/realtime"
    return f"{base}?model={model}" if model is not None else base


def session_config(
    *,
    target: str = "en",
    voice: str | None = "Cherry",
    source: str | None = None,
    output_audio_format: str = "pcm16",
) -> dict[str, Any]:
    """The session block the sample sends; `voice=None` asks for text only, `source` turns
    the source transcript on."""
    session: dict[str, Any] = {
        "modalities": ["text", "audio"] if voice else ["text"],
        **({"voice": voice} if voice else {}),
        "input_audio_format": "pcm16",
        "output_audio_format": output_audio_format,
        "translation": {"language": target},
    }
    if source:
        session["input_audio_transcription"] = {
            "model": "qwen3-asr-flash-realtime",
            "language": source,
        }
    return session


def jpeg(width: int, height: int, *, noise: bool = False, quality: int = 80) -> bytes:
    rng = np.random.default_rng(width * 10_000 + height)
    if noise:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    else:
        pixels = np.full((height, width, 3), (40, 120, 200), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


def png(width: int, height: int) -> bytes:
    ok, encoded = cv2.imencode(".png", np.zeros((height, width, 3), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


@dataclass
class Received:
    events: list[dict[str, Any]] = field(default_factory=list)
    # Arrival time of each event (time.monotonic), index for index with `events`.
    arrivals: list[float] = field(default_factory=list)
    close_code: int | None = None
    closed_cleanly: bool | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.of("error")]

    def responses(self) -> list[list[dict[str, Any]]]:
        """The events of each response, from response.created to response.done, with the
        transcription events that precede it."""
        grouped: list[list[dict[str, Any]]] = []
        current: list[dict[str, Any]] = []
        for item in self.events:
            if item["type"].startswith(("response.", "conversation.item.input_audio")):
                current.append(item)
                if item["type"] == "response.done":
                    grouped.append(current)
                    current = []
        return grouped


class LiveTranslateClient:
    def __init__(self, url: str, api_key: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.api_key = api_key
        self.headers = headers or {}
        self.ws: Any = None
        self.received = Received()

    async def connect(self) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}", **self.headers}
        self.ws = await websockets.connect(self.url, additional_headers=headers, max_size=None)

    async def send(self, kind: str, **fields: Any) -> None:
        event = {"event_id": f"event_{int(time.time() * 1000)}", "type": kind, **fields}
        await self.ws.send(json.dumps(event))

    async def configure_session(self, session: dict[str, Any]) -> None:
        await self.send("session.update", session=session)

    async def send_audio_chunk(self, audio: bytes) -> None:
        await self.send("input_audio_buffer.append", audio=base64.b64encode(audio).decode())

    async def send_image_frame(self, image: bytes) -> None:
        await self.send("input_image_buffer.append", image=base64.b64encode(image).decode())

    async def handle_server_messages(self) -> None:
        """Reads until the server closes the socket or says session.finished."""
        try:
            async for message in self.ws:
                event = json.loads(message)
                self.received.events.append(event)
                self.received.arrivals.append(time.monotonic())
                if event["type"] == "session.finished":
                    break
        except ConnectionClosed as closed:
            self.received.close_code = closed.rcvd.code if closed.rcvd else None
            self.received.closed_cleanly = isinstance(closed, ConnectionClosedOK)
            return
        self.received.closed_cleanly = True

    async def wait_for(self, kind: str, *, count: int = 1, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received.of(kind)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} within {timeout_s} s: {self.received.types}")
            await asyncio.sleep(0.01)

    async def stream(
        self, samples: np.ndarray, *, images: Sequence[tuple[int, bytes]] = ()
    ) -> None:
        """Sends the samples in 100 ms blocks; each (block index, JPEG) in `images` goes
        right after that block."""
        pcm = samples.astype("<i2").tobytes()
        step = INPUT_CHUNK_SAMPLES * 2
        frames = dict(images)
        for index, start in enumerate(range(0, len(pcm), step)):
            await self.send_audio_chunk(pcm[start : start + step])
            if index in frames:
                await self.send_image_frame(frames[index])

    async def finish(self) -> None:
        await self.send("session.finish")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def translate_file(
    url: str,
    api_key: str,
    samples: np.ndarray,
    session: dict[str, Any],
    *,
    images: Sequence[tuple[int, bytes]] = (),
    headers: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> Received:
    """One whole session over a file, as the sample runs one over a microphone."""
    client = LiveTranslateClient(url, api_key, headers=headers)
    await client.connect()
    try:
        reader = asyncio.create_task(client.handle_server_messages())
        try:
            await client.configure_session(session)
            await client.stream(samples, images=images)
            await client.finish()
        except ConnectionClosed:
            pass  # the server dropped the session while we sent; the reader records how
        await asyncio.wait_for(reader, timeout_s)
    finally:
        await client.close()
    return client.received


def pcm_seconds(deltas: Sequence[dict[str, Any]]) -> float:
    """Seconds of 24 kHz PCM16 in response.audio.delta events, decoded delta by delta."""
    return sum(len(base64.b64decode(d["delta"])) // 2 for d in deltas) / OUTPUT_RATE_HZ
