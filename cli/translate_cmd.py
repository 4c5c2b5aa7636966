"""`ltb translate`: one file to translated text, subtitles, a dub and a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from cli.app import app
from cli.guard import OUTPUT_CHOICES, guarded, on_off, parse_list
from ltb.errors import RequestRefused
from ltb.languages import outputs_for
from ltb.outputs import DEFAULT_DUB_MIX, DEFAULT_DUCK_DB, MAX_DUCK_DB, MIN_DUCK_DB, OUTPUTS
from ltb.pricing import load_price_book
from ltb.settings import get_settings
from ltb.states import ChunkStatus, Engine

if TYPE_CHECKING:
    # The media stack (numpy, PyAV, OpenCV) loads only when a command needs it,
    # so `ltb --help` and the service commands start quickly.
    from ltb.pricing import PriceTable
    from pipeline.estimate import TranslationRequest
    from pipeline.plan import ChunkPlan, PlannedChunk
    from pipeline.run_local import RunResult

console = Console()
# The kinds a run without --outputs leaves out (the deliverables), from the registry.
ON_REQUEST = [kind.value for kind, spec in OUTPUTS.items() if not spec.by_default]


@app.command()
def translate(
    file: Annotated[Path, typer.Argument(help="Audio or video file to translate.")],
    target: Annotated[str, typer.Option(help="Target language code, e.g. en, zh, ja.")],
    out: Annotated[Path, typer.Option(help="Directory to write the outputs into.")],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            "--source-lang",
            help="Source language code; leave out to detect it (the realtime engine needs it).",
        ),
    ] = None,
    outputs: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated outputs: {OUTPUT_CHOICES}. Default: all the target allows "
            f"except {', '.join(ON_REQUEST)}, which are made only when named."
        ),
    ] = None,
    voice: Annotated[str | None, typer.Option(help="Dub voice, e.g. Cherry, Nofish, Kiki.")] = None,
    dub_mix: Annotated[
        str,
        typer.Option(
            help="How the dub meets the source's soundtrack in mix_wav, mp4 and mkv: replace "
            "(the dub alone) or voiceover (the original kept under it, ducked)."
        ),
    ] = DEFAULT_DUB_MIX,
    duck_db: Annotated[
        float,
        typer.Option(
            help=f"How far a voiceover lowers the original while the dub speaks, "
            f"{MIN_DUCK_DB:g} to {MAX_DUCK_DB:g} dB."
        ),
    ] = DEFAULT_DUCK_DB,
    visual_context: Annotated[
        str, typer.Option("--visual-context", help="Send video frames as context: on or off.")
    ] = "off",
    max_speed: Annotated[
        float | None,
        typer.Option(
            help="Fastest a dub may be sped up to fit, 1.0-1.5 \\[default: LTB_MAX_SPEED, 1.25]."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Chunks translated at the same time \\[default: LTB_CONCURRENCY, 4]."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="file: whole chunks (qwen3-livetranslate-flash); realtime: streamed sessions "
            "(qwen3-livetranslate-flash-realtime), which adds transcript and source captions."
        ),
    ] = "file",
) -> None:
    """Translate FILE into the outputs, with the token usage and cost of every request."""
    with guarded():
        result = run_translate(
            file,
            target=target,
            out=out,
            source=source,
            outputs=outputs,
            voice=voice,
            visual_context=visual_context,
            max_speed=max_speed,
            concurrency=concurrency,
            engine=engine,
            dub_mix=dub_mix,
            duck_db=duck_db,
        )
        if result.error is not None:
            raise result.error


def run_translate(
    file: Path,
    *,
    target: str,
    out: Path,
    source: str | None = None,
    outputs: str | None = None,
    voice: str | None = None,
    visual_context: str = "off",
    max_speed: float | None = None,
    concurrency: int | None = None,
    engine: str = "file",
    dub_mix: str = DEFAULT_DUB_MIX,
    duck_db: float = DEFAULT_DUCK_DB,
) -> RunResult:
    """Checks the request, runs it, prints progress and the summary."""
    from cli.provider_choice import chosen_provider
    from pipeline.estimate import TranslationRequest
    from pipeline.ratelimit import LocalRateLimiter, quota
    from pipeline.run_local import LocalJob, translate_file

    settings = get_settings()
    max_speed = settings.max_speed if max_speed is None else max_speed
    # For the realtime engine, --concurrency is the sessions open at once.
    sessions = settings.realtime_max_sessions if concurrency is None else concurrency
    concurrency = settings.concurrency if concurrency is None else concurrency
    if not 1.0 <= max_speed <= 1.5:
        raise RequestRefused("--max-speed must lie between 1.0 and 1.5", code="invalid_option")
    if not 1 <= concurrency <= 64:
        raise RequestRefused("--concurrency must lie between 1 and 64", code="invalid_option")
    chosen_engine = parse_engine(engine)
    request = TranslationRequest.checked(
        target_lang=target,
        outputs=(
            parse_list(outputs)
            if outputs
            else outputs_for(target, engine=chosen_engine, by_default=True)
        ),
        visual_context=on_off(visual_context, name="--visual-context"),
        source_lang=source,
        voice=voice,
        engine=chosen_engine,
        dub_mix=dub_mix,
        duck_db=duck_db,
    )
    if not file.exists():
        raise RequestRefused(f"{file} does not exist", code="source_not_found")
    price_table = load_price_book(settings.price_table_file).current()
    if chosen_engine == Engine.REALTIME:
        return _run_realtime(file, request, out, max_speed, sessions, price_table)
    with chosen_provider(settings) as provider:
        console.print(f"[dim]{provider.description}[/]")
        rpm, tpm = quota(settings.quota_rpm, settings.quota_tpm, settings.quota_headroom)
        job = LocalJob(
            source=file, request=request, out_dir=out, max_speed=max_speed, concurrency=concurrency
        )
        with _ProgressView() as view:
            result = translate_file(
                job,
                settings=settings,
                client=provider.client,
                limiter=LocalRateLimiter(rpm=rpm, tpm=tpm),
                price_table=price_table,
                observer=view,
            )
    _print_summary(result)
    return result


def parse_engine(value: str) -> Engine:
    try:
        return Engine(value)
    except ValueError:
        choices = ", ".join(e.value for e in Engine)
        raise RequestRefused(
            f"--engine must be one of {choices}; got {value!r}", code="invalid_option"
        ) from None


def _run_realtime(
    file: Path,
    request: TranslationRequest,
    out: Path,
    max_speed: float,
    sessions: int,
    price_table: PriceTable,
) -> RunResult:
    """The realtime engine: segments streamed in parallel sessions."""
    from pipeline.provider import provider_endpoint
    from pipeline.ratelimit import LocalRateLimiter, quota
    from pipeline.realtime.client import realtime_client_for
    from pipeline.realtime.run import RealtimeJob, require_source_lang, translate_file_realtime

    settings = get_settings()
    require_source_lang(request)
    with provider_endpoint(settings) as endpoint:
        client = realtime_client_for(endpoint, settings)
        if endpoint.emulated:
            console.print(
                "[dim]No DASHSCOPE_API_KEY is set: using the built-in emulator's realtime "
                "endpoint. Its translations are placeholders.[/]"
            )
        else:
            console.print(f"[dim]Realtime: {client.url} (model {client.model})[/]")
        rpm, tpm = quota(settings.quota_rpm, settings.quota_tpm, settings.quota_headroom)
        job = RealtimeJob(
            source=file, request=request, out_dir=out, max_speed=max_speed, max_sessions=sessions
        )
        with console.status("streaming sessions"):
            result = translate_file_realtime(
                job,
                settings=settings,
                client=client,
                limiter=LocalRateLimiter(rpm=rpm, tpm=tpm),
                price_table=price_table,
            )
    _print_summary(result)
    sessions_run = result.manifest["totals"]["sessions"]
    redone = result.manifest["totals"]["redone_sessions"]
    console.print(f"sessions: {sessions_run} ({redone} redone after a break)")
    return result


class _ProgressView:
    """A bar per chunk, and one for the whole file."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[int, TaskID] = {}
        self.total: TaskID | None = None

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        self.total = self.progress.add_task("analysing", total=None, note="probe, speech map, plan")
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def planned(self, plan: ChunkPlan) -> None:
        assert self.total is not None
        self.progress.update(
            self.total,
            description="[bold]file[/]",
            total=max(plan.requests, 1),
            completed=0 if plan.requests else 1,
            note=f"{plan.requests} requests, {len(plan.chunks) - plan.requests} silent chunks",
        )

    def chunk_started(self, chunk: PlannedChunk) -> None:
        label = f"chunk {chunk.index:>3} {chunk.span.start_s:7.1f}-{chunk.span.end_s:7.1f} s"
        self.tasks[chunk.index] = self.progress.add_task(label, total=1, note="queued")

    def chunk_finished(self, chunk: PlannedChunk, status: ChunkStatus) -> None:
        assert self.total is not None
        self.progress.update(self.tasks[chunk.index], completed=1, note=status)
        if status == ChunkStatus.DONE:
            self.progress.advance(self.total)

    def chunk_split(self, chunk: PlannedChunk, halves: tuple[PlannedChunk, PlannedChunk]) -> None:
        assert self.total is not None
        self.progress.update(
            self.tasks[chunk.index],
            completed=1,
            note=f"truncated → {halves[0].index}, {halves[1].index}",
        )
        total = self.progress.tasks[self.total].total or 0
        self.progress.update(self.total, total=total + 1)

    def assembling(self) -> None:
        assert self.total is not None
        self.progress.update(self.total, note="assembling outputs")


def _print_summary(result: RunResult) -> None:
    manifest: dict[str, Any] = result.manifest
    totals, cost = manifest["totals"], manifest["cost"]
    kinds = totals["by_kind"]
    if result.outcome == "no_speech":
        console.print("[yellow]No speech found: nothing was sent, nothing was billed.[/]")
    elif result.outcome == "failed":
        error = manifest["error"]
        # Messages and paths are the user's own text: never read as markup.
        console.print(f"[bold red]failed[/] {escape(error['code'])}: {escape(error['message'])}")
    if manifest["provider"] == "emulator":
        console.print("[yellow]Answered by the emulator: the translations are placeholders.[/]")
    done = sum(1 for c in manifest["chunks"] if c["status"] == ChunkStatus.DONE)
    console.print(
        f"[bold]{done} chunks, {totals['requests']} requests[/] "
        f"({totals['estimated_requests']} with estimated usage)"
    )
    console.print(
        "tokens: "
        f"input audio {kinds['input_audio']:,}, input video {kinds['input_video']:,}, "
        f"input images {kinds.get('input_image', 0):,}, "
        f"output text {kinds['output_text']:,}, output audio {kinds['output_audio']:,} "
        f"= {totals['total_tokens']:,}"
    )
    console.print(
        f"[bold]cost: {cost['amount']:.4f} {cost['currency']}[/] (price table {cost['price_table']}; "
        f"estimated beforehand {manifest['estimate']['cost']['amount']:.4f})"
    )
    for path in [*result.outputs.values(), result.manifest_path]:
        console.print(f"  {escape(str(path))}")
    for warning in manifest["warnings"]:
        console.print(f"[yellow]warning[/] {escape(warning)}")
