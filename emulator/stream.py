"""Server-sent events, framed as the provider frames them.

Every event is `data: <json>\\n\\n`; the stream ends with `data: [DONE]\\n\\n`. All chunks of a
response share one `id`, `created` and `model`. Text chunks carry `delta.content` and no
`audio` key; audio chunks carry `delta.audio` and no `content` key (docs/provider.md, "The stream").
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

DONE = b"data: [DONE]\n\n"
# How long the provider says an audio delta stays retrievable; informative only.
AUDIO_TTL_S = 24 * 3600


def sse(payload: dict[str, Any]) -> bytes:
    return (
        b"data: "
        + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        + b"\n\n"
    )


class ChunkFactory:
    """Builds the chunks of one response."""

    def __init__(self, *, request_id: str, model: str, include_usage: bool) -> None:
        self.completion_id = f"chatcmpl-{request_id}"
        self.audio_id = f"audio_{request_id.replace('-', '')}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            # With include_usage, every chunk but the last says `usage: null` (OpenAI's rule).
            chunk["usage"] = None
        return chunk

    def _delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return self._chunk(
            [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
        )

    def text(self, content: str, *, first: bool) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": content}
        if first:
            delta["role"] = "assistant"
        return self._delta(delta)

    def audio(self, data_b64: str) -> dict[str, Any]:
        expires_at = int(time.time()) + AUDIO_TTL_S
        return self._delta(
            {"audio": {"data": data_b64, "id": self.audio_id, "expires_at": expires_at}}
        )

    def finish(self, reason: str) -> dict[str, Any]:
        return self._delta({}, finish_reason=reason)

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        chunk = self._chunk([])
        chunk["usage"] = usage
        return chunk


class StreamCut(Exception):
    """Raised inside a stream to drop the connection without finishing the response.

    The server then closes the socket mid-body, so the client sees what a network cut looks
    like: an incomplete chunked body, never a clean end.
    """


class EventStreamResponse(StreamingResponse):
    """A streaming response that always settles its books.

    When a client disconnects, Starlette cancels the send loop and may leave the event
    generator suspended at a `yield` until garbage collection; background tasks do not run
    on that path. So the generator is closed here, and `on_close` runs, on every exit.
    """

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        *,
        headers: dict[str, str],
        on_close: Callable[[], None],
    ) -> None:
        super().__init__(events, headers=headers, media_type="text/event-stream")
        self._events = events
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._events.aclose()
            self._on_close()
