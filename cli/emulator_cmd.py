"""`ltb emulator`: run the local stand-in for the provider."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app
from ltb.settings import get_settings


@app.command()
def emulator(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8010,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="The one bearer key to accept. Defaults to LTB_EMULATOR_API_KEY; when "
            "neither is set, any non-empty key is accepted.",
            show_default=False,
        ),
    ] = None,
    rpm: Annotated[int, typer.Option(help="Requests per minute per key.", min=1)] = 100,
    tpm: Annotated[int, typer.Option(help="Tokens per minute per key.", min=1)] = 100_000,
    first_byte_ms: Annotated[
        int, typer.Option(help="Delay before a response starts, in milliseconds.", min=0)
    ] = 0,
    realtime_factor: Annotated[
        float,
        typer.Option(
            help="Stream duration as a multiple of the input's duration (0: as fast as possible).",
            min=0.0,
        ),
    ] = 0.0,
    realtime_latency_s: Annotated[
        float,
        typer.Option(
            help="Realtime sessions: seconds from an utterance's end to its response, "
            "multiplied by --realtime-factor.",
            min=0.0,
        ),
    ] = 3.0,
    fail_429: Annotated[
        float,
        typer.Option(
            help="Share of requests (realtime: handshakes) refused with 429 limit_burst_rate.",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    fail_500: Annotated[
        float,
        typer.Option(
            help="Share of requests refused with 500 internal_error (realtime: responses "
            "replaced by an internal_error event and a 1011 close).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    cut: Annotated[
        float,
        typer.Option(
            help="Share of streams (realtime: responses) dropped mid-way, without finish, "
            "usage or [DONE] (realtime: no close frame).",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    moderation: Annotated[
        float,
        typer.Option(
            help="Share of streams (realtime: responses) ended by a data_inspection_failed error.",
            min=0.0,
            max=1.0,
        ),
    ] = 0.0,
    retry_after_s: Annotated[
        int, typer.Option(help="The Retry-After, in seconds, of an injected 429.", min=0)
    ] = 1,
    stall_s: Annotated[
        float,
        typer.Option(
            help="How long a forced `stall` fault keeps a stream silent, in seconds.", min=0.0
        ),
    ] = 60.0,
    max_output_tokens: Annotated[
        int,
        typer.Option(
            help="Output cap below the model's 4,096 (finish_reason length).", min=1, max=4096
        ),
    ] = 4096,
    dub_factor: Annotated[
        float, typer.Option(help="Dub length per second of detected speech.", min=0.1, max=4.0)
    ] = 1.1,
    voice_engine: Annotated[
        str,
        typer.Option(
            help="Dub voice: 'tone' (synthetic, default) or 'espeak' (espeak-ng if installed)."
        ),
    ] = "tone",
    allow_url_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Host the emulator may fetch media URLs from (repeatable; '*' for any). "
            "Default: loopback only.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for the fault draws (same seed, same faults).")
    ] = 0,
) -> None:
    """Run the local provider emulator: the same stream, billing, errors and limits as
    qwen3-livetranslate-flash, on http://HOST:PORT/compatible-mode/v1, and the realtime
    engine's WebSocket protocol on ws://HOST:PORT/api-ws/v1/realtime."""
    # Imported here so that other `ltb` commands do not pay for the web stack and decoders.
    from emulator.config import LOOPBACK, EmulatorConfig
    from emulator.realtime.protocol import PATH as REALTIME_PATH
    from emulator.server import BASE_PATH, run

    if voice_engine not in ("tone", "espeak"):
        raise typer.BadParameter("use 'tone' or 'espeak'", param_hint="--voice-engine")
    key = api_key or get_settings().emulator_api_key or None
    try:
        config = EmulatorConfig(
            api_key=key,
            rpm=rpm,
            tpm=tpm,
            first_byte_ms=first_byte_ms,
            realtime_factor=realtime_factor,
            realtime_latency_s=realtime_latency_s,
            fail_429=fail_429,
            fail_500=fail_500,
            cut=cut,
            moderation=moderation,
            seed=seed,
            retry_after_s=retry_after_s,
            stall_s=stall_s,
            max_output_tokens=max_output_tokens,
            dub_factor=dub_factor,
            voice_engine="espeak" if voice_engine == "espeak" else "tone",
            url_allow_hosts=tuple(allow_url_host) if allow_url_host else (LOOPBACK,),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    keys = "one configured key" if key else "any non-empty key"
    typer.echo(
        f"emulator on http://{host}:{port}{BASE_PATH} and ws://{host}:{port}{REALTIME_PATH} "
        f"({keys})",
        err=True,
    )
    run(config, host=host, port=port)
