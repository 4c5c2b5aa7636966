"""Faults on realtime sessions, under the file API's flags: a refused handshake, an error
event and a 1011 close, a dropped connection, a moderated response; plus the latency and
a client that leaves mid-response."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from emulator.config import EmulatorConfig
from emulator.server import serve_in_thread

from support.emulator import Emulator
from support.media import speech_timeline
from support.realtime import (
    LiveTranslateClient,
    Received,
    realtime_url,
    session_config,
    translate_file,
)

TWO_UTTERANCES = speech_timeline([0.5, "en_0.flac", 1.0, "en_1.flac", 1.0]).samples


def run(emulator: Emulator, fault: str, **kw: Any) -> Received:
    return asyncio.run(
        translate_file(
            realtime_url(emulator),
            emulator.api_key,
            TWO_UTTERANCES,
            session_config(),
            headers={"x-emulator-fault": fault},
            **kw,
        )
    )


def realtime_entries(emulator: Emulator) -> list[dict[str, Any]]:
    return [e for e in emulator.ledger() if e["kind"] == "realtime"]


def test_a_cut_drops_the_connection_mid_response(fresh: Emulator) -> None:
    received = run(fresh, "cut")
    # No close frame: the client sees an abnormal closure, not session.finished.
    assert received.close_code is None and received.closed_cleanly is False
    assert "response.created" in received.types and "response.done" not in received.types
    assert "session.finished" not in received.types
    entry = fresh.entry(received.of("response.created")[0]["response"]["id"])
    assert entry["kind"] == "realtime" and entry["outcome"] == "cut"
    # Billed for its input and the output already handed over.
    assert entry["usage"]["prompt_tokens"] > 0 and entry["usage"]["completion_tokens"] > 0


def test_a_500_is_an_error_event_then_a_1011_close(fresh: Emulator) -> None:
    received = run(fresh, "500")
    (error,) = received.errors
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert received.close_code == 1011
    assert "response.created" not in received.types
    (entry,) = realtime_entries(fresh)
    assert (entry["outcome"], entry["status"], entry["error_code"]) == (
        "error",
        500,
        "internal_error",
    )
    assert entry["usage"]["total_tokens"] == 0


def test_a_moderated_response_ends_and_the_session_carries_on(fresh: Emulator) -> None:
    received = run(fresh, "moderation")
    (error,) = received.errors
    assert error["code"] == "data_inspection_failed"
    assert len(received.of("response.created")) == 2
    assert len(received.of("response.done")) == 1  # the second utterance is answered
    assert received.types[-1] == "session.finished"
    assert [e["outcome"] for e in realtime_entries(fresh)] == ["error", "ok"]


def test_moderated_input_is_refused_before_the_response(fresh: Emulator) -> None:
    received = run(fresh, "moderation-input")
    (error,) = received.errors
    assert error["code"] == "data_inspection_failed" and "Input" in error["message"]
    assert len(received.of("response.created")) == 1
    assert received.types.index("error") < received.types.index("response.created")
    entries = realtime_entries(fresh)
    assert [(e["outcome"], e["usage"]["total_tokens"] > 0) for e in entries] == [
        ("error", False),
        ("ok", True),
    ]


def test_a_forced_429_refuses_the_handshake(fresh: Emulator) -> None:
    async def attempt() -> Any:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                realtime_url(fresh),
                additional_headers={
                    "Authorization": f"Bearer {fresh.api_key}",
                    "x-emulator-fault": "429",
                },
            )
        return refused.value.response

    response = asyncio.run(attempt())
    assert response.status_code == 429 and response.headers["retry-after"] == "1"
    assert json.loads(response.body)["error"]["code"] == "limit_burst_rate"


def test_an_unknown_forced_fault_is_refused(fresh: Emulator) -> None:
    async def attempt() -> Any:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(
                realtime_url(fresh),
                additional_headers={
                    "Authorization": f"Bearer {fresh.api_key}",
                    "x-emulator-fault": "meteor",
                },
            )
        return refused.value.response

    assert asyncio.run(attempt()).status_code == 400


# --- rates, latency and departures, on emulators of their own -----------------------------


class InProcess:
    def __init__(self, base_url: str) -> None:
        self.root_url = base_url.removesuffix("/compatible-mode/v1")
        self.api_key = "sk-any"

    def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = httpx.get(f"{self.root_url}/_emulator/ledger").json()[
            "entries"
        ]
        return [e for e in entries if e["kind"] == "realtime"]


@pytest.fixture
def paced() -> Iterator[InProcess]:
    """Responses 0.5 s after their utterance and played out in real time."""
    config = EmulatorConfig(realtime_latency_s=0.5, realtime_factor=1.0)
    with serve_in_thread(config) as base_url:
        yield InProcess(base_url)


def test_cut_and_500_rates_apply_per_response() -> None:
    with serve_in_thread(EmulatorConfig(cut=1.0)) as base_url:
        emulator = InProcess(base_url)
        received = asyncio.run(
            translate_file(
                realtime_url(emulator), "sk-any", TWO_UTTERANCES, session_config(voice=None)
            )
        )
        assert received.close_code is None and received.closed_cleanly is False
        assert [e["outcome"] for e in emulator.ledger()] == ["cut"]
    with serve_in_thread(EmulatorConfig(fail_429=1.0)) as base_url:
        emulator = InProcess(base_url)

        async def attempt() -> int:
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(
                    realtime_url(emulator),
                    additional_headers={"Authorization": "Bearer sk-any"},
                )
            return refused.value.response.status_code

        assert asyncio.run(attempt()) == 429


def test_responses_wait_for_the_latency(paced: InProcess) -> None:
    speech = speech_timeline([0.5, "en_3.flac"]).samples.astype("<i2").tobytes()

    async def scenario() -> tuple[float, Received]:
        client = LiveTranslateClient(realtime_url(paced), paced.api_key)
        await client.connect()
        reader = asyncio.create_task(client.handle_server_messages())
        await client.configure_session(session_config(voice=None))
        await client.send_audio_chunk(speech)
        # The utterance can only end once the pause after it arrives.
        pause_sent = time.monotonic()
        await client.send_audio_chunk(b"\x00\x00" * 16_000)
        await client.wait_for("response.created")
        await client.finish()
        await asyncio.wait_for(reader, 30)
        await client.close()
        return pause_sent, client.received

    pause_sent, received = asyncio.run(scenario())
    started = received.arrivals[received.types.index("response.created")]
    assert started - pause_sent >= 0.5


def test_a_client_leaving_mid_response_is_billed_for_what_it_was_sent(paced: InProcess) -> None:
    samples = speech_timeline([0.5, "en_0.flac", 1.0]).samples

    async def scenario() -> Received:
        client = LiveTranslateClient(realtime_url(paced), paced.api_key)
        await client.connect()
        reader = asyncio.create_task(client.handle_server_messages())
        await client.configure_session(session_config(voice="Cherry"))
        await client.stream(samples)
        await client.wait_for("response.audio.delta")
        await client.close()
        await asyncio.wait_for(reader, 30)
        return client.received

    received = asyncio.run(scenario())
    response_id = received.of("response.created")[0]["response"]["id"]
    deadline = time.monotonic() + 15
    while not (entries := [e for e in paced.ledger() if e["request_id"] == response_id]):
        assert time.monotonic() < deadline, "no ledger entry for the abandoned response"
        time.sleep(0.05)
    (entry,) = entries
    assert entry["outcome"] == "client_disconnected"
    usage = entry["realtime"]["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens_details"]["audio_tokens"] > 0


def test_sessions_count_against_requests_per_minute(limited: Emulator) -> None:
    key = f"sk-realtime-rpm-{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {key}"}

    async def open_sessions() -> Any:
        for _ in range(3):
            async with websockets.connect(realtime_url(limited), additional_headers=headers) as ws:
                assert json.loads(await ws.recv())["type"] == "session.created"
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(realtime_url(limited), additional_headers=headers)
        return refused.value.response

    response = asyncio.run(open_sessions())
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    assert json.loads(response.body)["error"]["code"] == "limit_requests"


def test_a_stall_goes_silent_mid_response_then_carries_on() -> None:
    with serve_in_thread(EmulatorConfig(stall_s=0.6)) as base_url:
        emulator = InProcess(base_url)
        received = asyncio.run(
            translate_file(
                realtime_url(emulator),
                "sk-any",
                speech_timeline([0.5, "en_0.flac", 1.0]).samples,
                session_config(voice=None),
                headers={"x-emulator-fault": "stall"},
            )
        )
        texts = [i for i, t in enumerate(received.types) if t == "response.text.text"]
        assert len(texts) >= 2 and received.types[-1] == "session.finished"
        # Silence after the first delta, then the rest of the response. Only a lower bound,
        # and half the stall: a busy client may read the first delta late, which shortens
        # the gap it sees but never stretches a stall that did not happen.
        assert received.arrivals[texts[1]] - received.arrivals[texts[0]] >= 0.3
        assert [e["outcome"] for e in emulator.ledger()] == ["ok"]
