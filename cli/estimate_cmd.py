"""`ltb estimate`: what a file will cost to translate, before anything is spent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.app import app
from cli.guard import OUTPUT_CHOICES, guarded, on_off, parse_list
from ltb.pricing import load_price_book
from ltb.settings import get_settings


@app.command()
def estimate(
    file: Annotated[Path, typer.Argument(help="Audio or video file to estimate.")],
    outputs: Annotated[
        str, typer.Option(help=f"Comma-separated outputs: {OUTPUT_CHOICES}.")
    ] = "text,srt",
    visual_context: Annotated[
        str, typer.Option("--visual-context", help="Send the video frames as context: on or off.")
    ] = "off",
    target: Annotated[str, typer.Option(help="Target language code, e.g. en, zh, ja.")] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Probe FILE, map its speech, plan its chunks and price them. Nothing is billed."""
    with guarded(as_json=as_json):
        from pipeline.analysis import analyse_source, media_limits
        from pipeline.estimate import TranslationRequest, estimate_report, plan_options, plan_source

        settings = get_settings()
        request = TranslationRequest.checked(
            target_lang=target,
            outputs=parse_list(outputs),
            visual_context=on_off(visual_context, name="--visual-context"),
        )
        analysis = analyse_source(file, limits=media_limits(settings), name=str(file))
        plan = plan_source(analysis, plan_options(settings, request, url_delivery=False))
        table = load_price_book(settings.price_table_file).current()
        report = estimate_report(
            name=file.name,
            analysis=analysis,
            plan=plan,
            request=request,
            cost=table.cost(settings.model, plan.estimate),
        )
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            _print_table(report)


def _print_table(report: dict[str, Any]) -> None:
    console = Console()
    video = report["video"]
    source = f"{report['file']}: {report['duration_s']:.1f} s"
    if video:
        source += f", video {video['width']}x{video['height']} at {video['fps']:.3g} fps"
    speech = report["speech"]
    console.print(f"[bold]{source}[/]")
    console.print(f"speech: {speech['regions']} regions, {speech['speech_s']:.1f} s")
    single = report["single_request"]
    verdict = (
        "fits" if single["fits_input_limit"] else "[red]exceeds the 49,152-token input limit[/]"
    )
    console.print(
        f"as one request: {single['input_tokens']:,} input tokens "
        f"({single['audio_tokens']:,} audio + {single['video_tokens']:,} video), {verdict}"
    )
    table = Table(title=f"chunk plan → {report['target_lang']} ({', '.join(report['outputs'])})")
    for column in (
        "#",
        "start",
        "end",
        "speech s",
        "audio tok",
        "video tok",
        "out tok",
        "payload",
        "",
    ):
        table.add_column(column, justify="right")
    for chunk in report["chunks"]:
        note = "silent, not sent" if chunk["silent"] else chunk["delivery"]
        if chunk["cut_through_speech"]:
            note += ", cut in speech"
        table.add_row(
            str(chunk["index"]),
            f"{chunk['start_s']:.1f}",
            f"{chunk['end_s']:.1f}",
            f"{chunk['speech_s']:.1f}",
            f"{chunk['audio_tokens']:,}",
            f"{chunk['video_tokens']:,}",
            f"{chunk['est_output_tokens']:,}",
            f"{chunk['payload_chars'] / 1e6:.2f} M",
            note,
        )
    console.print(table)
    totals, cost = report["totals"], report["cost"]
    console.print(
        f"[bold]{totals['requests']} requests, {totals['input_tokens']:,} input tokens, "
        f"~{totals['est_output_tokens']:,} output tokens: {cost['amount']:.4f} {cost['currency']}[/] "
        f"(price table {cost['price_table']})"
    )
    if report["outcome"] == "no_speech":
        console.print("[yellow]no speech found: nothing would be billed[/]")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/] {warning}")
