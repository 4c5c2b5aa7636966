"""Talking to an emulator process the way clients do: the official SDK, or raw HTTP."""

from __future__ import annotations

import base64
import json
import mimetypes
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from openai import AsyncOpenAI, OpenAI

from support.processes import free_port, running

LTB = Path(sys.executable).parent / "ltb"
MODEL = "qwen3-livetranslate-flash"
# The default test emulator's key: long enough that the ledger may show its last 4 characters.
API_KEY = "sk-emulator-test-0123456789abcdef"
DUB_RATE_HZ = 24_000


@dataclass(frozen=True)
class Emulator:
    root_url: str
    api_key: str
    # One client per emulator: building an httpx client costs more than a request here.
    http: httpx.Client

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/compatible-mode/v1"

    def client(self, **options: Any) -> OpenAI:
        return OpenAI(**({"api_key": self.api_key, "base_url": self.base_url} | options))

    def async_client(self, **options: Any) -> AsyncOpenAI:
        return AsyncOpenAI(**({"api_key": self.api_key, "base_url": self.base_url} | options))

    def post(
        self,
        body: dict[str, Any],
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/compatible-mode/v1/chat/completions",
    ) -> httpx.Response:
        """One raw request, read to the end."""
        auth = {"Authorization": f"Bearer {key or self.api_key}"}
        return self.http.post(self.root_url + path, json=body, headers={**auth, **(headers or {})})

    def reset(self) -> None:
        self.http.post(f"{self.root_url}/_emulator/reset").raise_for_status()

    def configure(self, **changes: Any) -> None:
        """Changes faults or pacing mid-test (POST /_emulator/config, a harness control)."""
        self.http.post(f"{self.root_url}/_emulator/config", json=changes).raise_for_status()

    def ledger(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.root_url}/_emulator/ledger")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

    def entry(self, request_id: str, *, timeout_s: float = 15.0) -> dict[str, Any]:
        """The ledger entry for a request, waiting for it if the stream is still settling
        (a disconnect reaches the server a moment after the client gives up)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e in self.ledger() if e["request_id"] == request_id]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no ledger entry for {request_id}")
            time.sleep(0.05)


@contextmanager
def start_emulator(
    options: Sequence[str],
    *,
    api_key: str,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> Iterator[Emulator]:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    with (
        running(
            [str(LTB), "emulator", "--port", str(port), *options],
            ready_url=f"{root}/_emulator/health",
            env=env,
            log_path=(log_dir / "emulator.log") if log_dir else None,
        ),
        httpx.Client(timeout=60) as http,
    ):
        yield Emulator(root_url=root, api_key=api_key, http=http)


# --- requests -----------------------------------------------------------------------------


def data_uri(path: Path, mime: str | None = None) -> str:
    kind = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def audio_message(ref: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": ref, "format": "wav"}}],
        }
    ]


def video_message(ref: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": ref}}]}]


def request_body(
    messages: list[dict[str, Any]],
    *,
    target: str = "en",
    source: str | None = None,
    voice: str | None = "Cherry",
    **extra: Any,
) -> dict[str, Any]:
    """A raw request as the seeds send it; `voice=None` asks for text only."""
    options = {"target_lang": target} | ({"source_lang": source} if source else {})
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": messages,
        "modalities": ["text", "audio"] if voice else ["text"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "translation_options": options,
    }
    if voice:
        body["audio"] = {"voice": voice, "format": "wav"}
    return body | extra


def sdk_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The same request as SDK keyword arguments: translation_options goes in extra_body."""
    arguments = {k: v for k, v in body.items() if k != "translation_options"}
    return arguments | {"extra_body": {"translation_options": body["translation_options"]}}


# --- reading streams ----------------------------------------------------------------------


def audio_data(delta: Any) -> str | None:
    """The base64 audio of a stream delta, on any SDK release.

    openai-python 3.x types `delta.audio` as ChoiceDeltaAudio (read `.data`); older releases
    left it a plain dict, which is how the seeds' samples index it (`delta.audio["data"]`,
    a TypeError on current releases). See docs/provider.md, "In the official SDK".
    """
    audio = getattr(delta, "audio", None)
    if audio is None:
        return None
    data = audio.get("data") if isinstance(audio, dict) else getattr(audio, "data", None)
    return data if isinstance(data, str) else None


@dataclass
class Collected:
    text: str
    audio_b64: str
    finish_reason: str | None
    usage: dict[str, Any] | None
    chunk_ids: set[str]
    request_id: str | None

    @property
    def pcm(self) -> np.ndarray:
        return np.frombuffer(base64.b64decode(self.audio_b64), dtype="<i2")

    @property
    def dub_s(self) -> float:
        return self.pcm.size / DUB_RATE_HZ


def collect(chunks: Any) -> Collected:
    """Reads an SDK stream the way the seeds do: content, audio data, then usage."""
    found = Collected("", "", None, None, set(), None)
    for chunk in chunks:
        _take(found, chunk)
    found.request_id = chunks.response.headers.get("x-request-id")
    return found


async def collect_async(chunks: Any) -> Collected:
    found = Collected("", "", None, None, set(), None)
    async for chunk in chunks:
        _take(found, chunk)
    found.request_id = chunks.response.headers.get("x-request-id")
    return found


def read_all(stream: Any, into: list[Any]) -> None:
    """Reads an SDK stream chunk by chunk, keeping what arrived even if it then breaks."""
    for chunk in stream:
        into.append(chunk)


def _take(found: Collected, chunk: Any) -> None:
    found.chunk_ids.add(chunk.id)
    if chunk.choices:
        choice = chunk.choices[0]
        found.text += choice.delta.content or ""
        found.audio_b64 += audio_data(choice.delta) or ""
        found.finish_reason = choice.finish_reason or found.finish_reason
    elif chunk.usage is not None:
        found.usage = chunk.usage.model_dump(exclude_none=True)


def sse_events(raw: str) -> list[str]:
    """The `data:` payloads of a raw SSE body, in order."""
    assert raw.endswith("\n\n"), "every event ends with a blank line"
    events = []
    for block in raw.split("\n\n")[:-1]:
        assert block.startswith("data: "), block[:80]
        events.append(block[len("data: ") :])
    return events


def sse_json(raw: str) -> list[dict[str, Any]]:
    return [json.loads(e) for e in sse_events(raw) if e != "[DONE]"]


def usage_of(
    *,
    input_audio: int,
    output_text: int,
    output_audio: int,
    input_video: int | None = None,
) -> dict[str, Any]:
    """The usage object as docs/provider.md ("Usage") spells it (video_tokens only for video input)."""
    prompt = {"audio_tokens": input_audio, "text_tokens": 0}
    if input_video is not None:
        prompt["video_tokens"] = input_video
    prompt_total = input_audio + (input_video or 0)
    return {
        "prompt_tokens": prompt_total,
        "completion_tokens": output_text + output_audio,
        "total_tokens": prompt_total + output_text + output_audio,
        "prompt_tokens_details": prompt,
        "completion_tokens_details": {"audio_tokens": output_audio, "text_tokens": output_text},
    }


def soundtrack(aac_frames: int, layout: Sequence[float | str]) -> np.ndarray:
    """16 kHz samples laid out as `layout`, padded with silence to exactly `aac_frames`
    frames of 1024 samples, so an AAC soundtrack decodes to a length known by hand."""
    from support.media import speech_timeline

    samples = speech_timeline(layout).samples
    total = aac_frames * 1024
    assert samples.size <= total, "the layout is longer than the soundtrack"
    return np.concatenate([samples, np.zeros(total - samples.size, dtype=np.int16)])
