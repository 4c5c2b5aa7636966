"""The provider, through the official openai SDK: one streaming request per chunk.

The SDK's own retries are switched off (max_retries=0). Every attempt must be written
to the usage records before it is made and must pass the account-wide rate limiter, so
retries live in one place, pipeline/translate.py, which can do both.
"""

from __future__ import annotations

import base64
import email.utils
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk

from ltb.errors import ProviderError
from ltb.providers import EMULATOR, Provider, ProviderEndpoint, require_provider_key, served_by
from ltb.settings import Settings
from ltb.usage import TokenCounts

# 429 and 5xx mean "later"; a 400 means the request itself is wrong and will stay wrong.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 10.0
    # No byte for this long, before the first or between two events: the stream is stuck.
    first_byte_s: float = 120.0
    total_s: float = 900.0


@dataclass(frozen=True, slots=True)
class TranslationCall:
    """One chunk's request, as the provider's protocol describes it (docs/provider.md "Request")."""

    media: str  # a data URI or a URL the provider can fetch
    kind: str  # "audio" or "video"
    target_lang: str
    source_lang: str | None = None
    voice: str | None = None  # set when a dub is wanted
    audio_format: str = "mp3"
    max_tokens: int | None = None
    # Our own id for the attempt (its usage record), sent as X-Client-Request-Id so the
    # provider's logs can be matched even when the response never reached us.
    client_request_id: str | None = None

    def body(self) -> dict[str, Any]:
        """Keyword arguments for `chat.completions.create`."""
        if self.kind == "video":
            item: dict[str, Any] = {"type": "video_url", "video_url": {"url": self.media}}
        else:
            item = {
                "type": "input_audio",
                "input_audio": {"data": self.media, "format": self.audio_format},
            }
        options: dict[str, str] = {"target_lang": self.target_lang}
        if self.source_lang:
            options["source_lang"] = self.source_lang
        body: dict[str, Any] = {
            "messages": [{"role": "user", "content": [item]}],
            "modalities": ["text", "audio"] if self.voice else ["text"],
            "stream": True,
            "stream_options": {"include_usage": True},
            "extra_body": {"translation_options": options},
        }
        if self.voice:
            body["audio"] = {"voice": self.voice, "format": "wav"}
        if self.max_tokens:
            body["max_tokens"] = self.max_tokens
        if self.client_request_id:
            body["extra_headers"] = {"X-Client-Request-Id": self.client_request_id}
        return body


@dataclass(frozen=True, slots=True)
class StreamedReply:
    """What one streaming request brought back."""

    request_id: str | None
    text: str
    pcm: bytes  # raw PCM16 LE mono 24 kHz
    finish_reason: str | None
    usage: TokenCounts | None  # None when the stream broke before its usage chunk

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class ProviderClient:
    """A thread-safe client for one provider endpoint and model."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeouts: Timeouts | None = None,
        provider: Provider | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.timeouts = timeouts or Timeouts()
        # Who answers at `base_url`: given when known (an emulator started in-process),
        # otherwise learnt from the first response; None until then.
        self.provider: Provider | None = provider
        self._client = openai.OpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,
            timeout=openai.Timeout(
                connect=self.timeouts.connect_s,
                read=self.timeouts.first_byte_s,
                write=60.0,
                pool=30.0,
            ),
        )

    def close(self) -> None:
        self._client.close()

    def stream(
        self, call: TranslationCall, *, on_request_id: Callable[[str], None] | None = None
    ) -> StreamedReply:
        """Makes one streaming request and gathers its text, audio and usage.

        Raises ProviderError; `retryable` says whether trying again can help. Text and
        audio received before a failure are attached to the error as `partial`.
        """
        started = time.monotonic()
        received = _Received()
        try:
            stream = self._client.chat.completions.create(model=self.model, **call.body())
            self.provider = served_by(stream.response.headers)
            received.request_id = stream.response.headers.get("x-request-id")
            if received.request_id and on_request_id:
                on_request_id(received.request_id)
            with stream:
                for chunk in stream:
                    received.take(chunk)
                    if time.monotonic() - started > self.timeouts.total_s:
                        # What came before the cut-off was billed: it goes with the error.
                        raise _partial(
                            ProviderError(
                                f"the stream ran past the {self.timeouts.total_s:g} s total "
                                "timeout",
                                code="provider_timeout",
                                retryable=True,
                                request_id=received.request_id,
                            ),
                            received,
                        )
        except openai.APIStatusError as exc:
            self.provider = served_by(exc.response.headers)
            raise _status_error(exc, received) from exc
        except openai.APITimeoutError as exc:
            raise _partial(
                ProviderError(
                    "the provider sent nothing for too long",
                    code="provider_timeout",
                    retryable=True,
                    request_id=received.request_id,
                ),
                received,
            ) from exc
        except openai.APIConnectionError as exc:
            raise _partial(
                ProviderError(
                    f"the stream broke off: {exc.__cause__ or exc}",
                    code="stream_cut",
                    retryable=True,
                    request_id=received.request_id,
                ),
                received,
            ) from exc
        except openai.APIError as exc:
            # An {"error": ...} event in the middle of the stream (moderation, mostly).
            raise _partial(_body_error(exc, received), received) from exc
        if received.finish_reason is None or received.usage is None:
            raise _partial(
                ProviderError(
                    "the stream ended without its finish and usage chunks",
                    code="stream_cut",
                    retryable=True,
                    request_id=received.request_id,
                ),
                received,
            )
        return received.reply()


class _Received:
    def __init__(self) -> None:
        self.request_id: str | None = None
        self.text_parts: list[str] = []
        self.audio_parts: list[str] = []
        self.finish_reason: str | None = None
        self.usage: TokenCounts | None = None

    def take(self, chunk: ChatCompletionChunk) -> None:
        if self.request_id is None and chunk.id:
            self.request_id = chunk.id
        if chunk.usage is not None:
            self.usage = TokenCounts.from_provider_usage(chunk.usage.model_dump())
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.text_parts.append(delta.content)
            data = audio_delta_data(delta)
            if data:
                self.audio_parts.append(data)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def pcm(self) -> bytes:
        # Each delta is its own base64 string: decode them one by one, never concatenated.
        return b"".join(base64.b64decode(part) for part in self.audio_parts)

    def reply(self) -> StreamedReply:
        return StreamedReply(
            request_id=self.request_id,
            text="".join(self.text_parts),
            pcm=self.pcm(),
            finish_reason=self.finish_reason,
            usage=self.usage,
        )


def audio_delta_data(delta: Any) -> str | None:
    """The base64 audio in a stream delta, whichever way the SDK types it.

    openai-python 3.x gives `delta.audio` as a typed object (`.data`); older releases
    left it a dict, which the provider's own sample indexes as `delta.audio["data"]`.
    """
    audio = getattr(delta, "audio", None)
    if audio is None:
        return None
    data = audio.get("data") if isinstance(audio, Mapping) else getattr(audio, "data", None)
    return data if isinstance(data, str) else None


def _partial(error: ProviderError, received: _Received) -> ProviderError:
    error.partial = received.reply()
    return error


def _error_fields(body: object) -> tuple[str | None, str | None]:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            code, message = inner.get("code"), inner.get("message")
            return (str(code) if code else None, str(message) if message else None)
    return None, None


def _status_error(exc: openai.APIStatusError, received: _Received) -> ProviderError:
    code, message = _error_fields(exc.body)
    status = exc.status_code
    retry_after = _retry_after_s(exc.response.headers)
    request_id = exc.request_id or exc.response.headers.get("x-request-id") or received.request_id
    if status == 401:
        mapped = "provider_auth"
    elif status == 400 and code == "data_inspection_failed":
        mapped = "provider_rejected"
    elif status in RETRYABLE_STATUS:
        mapped = "provider_rate_limited" if status == 429 else "provider_unavailable"
    else:
        mapped = "provider_rejected"
    return _partial(
        ProviderError(
            f"the provider answered {status} {code or ''}: {message or exc.message}".strip(),
            code=mapped,
            status=status,
            retryable=status in RETRYABLE_STATUS,
            retry_after_s=retry_after,
            request_id=request_id,
        ),
        received,
    )


def _body_error(exc: openai.APIError, received: _Received) -> ProviderError:
    code, message = _error_fields(exc.body)
    moderation = code == "data_inspection_failed"
    return ProviderError(
        f"the provider stopped the stream: {code or 'error'}: {message or exc.message}",
        code="provider_rejected" if moderation else "provider_error",
        retryable=not moderation,
        request_id=received.request_id,
    )


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date (RFC 9110).
    How long to honour it is the retry policy's call, which caps it."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def client_for(endpoint: ProviderEndpoint, settings: Settings) -> ProviderClient:
    """The client a worker or a local command uses for `endpoint`, with the configured
    timeouts and model."""
    return ProviderClient(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        model=settings.model,
        timeouts=Timeouts(
            connect_s=settings.provider_connect_timeout_s,
            first_byte_s=settings.provider_first_byte_timeout_s,
            total_s=settings.provider_total_timeout_s,
        ),
        provider=endpoint.provider,
    )


@contextmanager
def provider_endpoint(settings: Settings) -> Iterator[ProviderEndpoint]:
    """The one choice between the provider and the emulator, for workers and local
    commands alike: DashScope (or the configured URL) when a key is set; otherwise an
    emulator started inside this process for as long as the context is open. Production
    never falls back to the emulator."""
    require_provider_key(settings)
    key = settings.provider_key
    if key:
        yield ProviderEndpoint(base_url=settings.provider_base_url, api_key=key, provider=None)
        return
    # Imported here: only a process that needs the stand-in pays for loading it, and the
    # pipeline depends on the emulator only through this one fallback.
    from emulator.config import EmulatorConfig
    from emulator.server import serve_in_thread

    with serve_in_thread(EmulatorConfig()) as base_url:
        yield ProviderEndpoint(base_url=base_url, api_key="local-emulator", provider=EMULATOR)
