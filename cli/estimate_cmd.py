"""`ltb estimate`: what a file will cost to translate, before anything is spent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.app import app
from cli.guard import OUTPUT_CHOICES, guarded, on_off, parse_list
from ltb.errors import RequestRefused
from ltb.pricing import PriceTable, load_price_book
from ltb.settings import Settings, get_settings
from ltb.states import Engine

if TYPE_CHECKING:
    from pipeline.analysis import SourceAnalysis
    from pipeline.estimate import TranslationRequest
    from pipeline.plan import ChunkPlan


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
    engine: Annotated[
        str,
        typer.Option(help="file, realtime, or both: which engines to price, side by side."),
    ] = "file",
    source: Annotated[
        str | None,
        typer.Option("--source", "--source-lang", help="Source language code (realtime)."),
    ] = None,
) -> None:
    """Probe FILE, map its speech, plan its chunks and price them. Nothing is billed."""
    with guarded(as_json=as_json):
        from pipeline.analysis import analyse_source, media_limits
        from pipeline.estimate import TranslationRequest, estimate_report, plan_options, plan_source

        settings = get_settings()
        engines = _engines(engine)
        request = TranslationRequest.checked(
            target_lang=target,
            outputs=parse_list(outputs),
            visual_context=on_off(visual_context, name="--visual-context"),
            source_lang=source,
            engine=engines[-1] if len(engines) == 1 else Engine.FILE,
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
        report["engines"] = engine_reports(engines, settings, analysis, plan, request, table)
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
        else:
            if Engine.FILE in engines:
                _print_table(report)
            _print_engines(report["engines"])


def _engines(value: str) -> list[Engine]:
    if value == "both":
        return [Engine.FILE, Engine.REALTIME]
    try:
        return [Engine(value)]
    except ValueError:
        raise RequestRefused(
            f"--engine must be file, realtime or both; got {value!r}", code="invalid_option"
        ) from None


def engine_reports(
    engines: list[Engine],
    settings: Settings,
    analysis: SourceAnalysis,
    plan: ChunkPlan,
    request: TranslationRequest,
    table: PriceTable,
) -> dict[str, Any]:
    """Each engine's tokens, cost and expected wall time, for side-by-side comparison."""
    from pipeline.realtime.estimate import estimate_realtime, realtime_report

    reports: dict[str, Any] = {}
    if Engine.FILE in engines:
        total = plan.estimate
        quota_s = max(
            total.total / (settings.quota_tpm * settings.quota_headroom) * 60,
            plan.requests / settings.quota_rpm * 60,
        )
        reports["file"] = {
            "engine": "file",
            "model": settings.model,
            "requests": plan.requests,
            "input_tokens": total.input_tokens,
            "image_tokens": 0,
            "est_output_tokens": total.output_tokens,
            "total_tokens": total.total,
            "by_kind": total.as_dict(),
            "cost": table.cost(settings.model, total).as_dict(),
            # The file engine is not bound to real time: only the quota bounds it.
            "wall_s": round(quota_s, 1),
        }
    if Engine.REALTIME in engines:
        realtime = estimate_realtime(settings, analysis, request)
        reports[Engine.REALTIME] = realtime_report(realtime, table, settings.realtime_model)
    return reports


def _print_engines(engines: dict[str, Any]) -> None:
    console = Console()
    table = Table(title="engines side by side")
    names = list(engines)
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("model", lambda e: e["model"]),
        ("requests / sessions", lambda e: f"{e.get('requests', e.get('sessions', 0)):,}"),
        ("input tokens", lambda e: f"{e['input_tokens']:,}"),
        ("  of which images", lambda e: f"{e['image_tokens']:,}"),
        ("est. output tokens", lambda e: f"{e['est_output_tokens']:,}"),
        ("total tokens", lambda e: f"{e['total_tokens']:,}"),
        ("cost", lambda e: f"{e['cost']['amount']:.4f} {e['cost']['currency']}"),
        ("expected wall time", lambda e: f"{e['wall_s']:.0f} s"),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(engines[name]) for name in names))
    console.print(table)


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
