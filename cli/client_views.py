"""How the client commands show jobs and usage: progress bars while waiting, summary
tables, one job in full, usage rows. Kept apart from the commands, which only talk to
the API."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from cli.guard import fail
from ltb.states import JOB_FINISHED, JobStatus

if TYPE_CHECKING:
    from rich.table import Table

    from ltb.client import ApiClient

console = Console()
stderr = Console(stderr=True)

FINAL = JOB_FINISHED
UNSUCCESSFUL = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})
# Statuses whose job has nothing left to do: its progress reads 100%.
_COMPLETE = frozenset({JobStatus.SUCCEEDED, JobStatus.ESTIMATED})
TOKEN_KINDS = (
    "input_audio",
    "input_video",
    "input_text",
    "output_text",
    "output_audio",
    "input_image",
)
# Poll briskly while jobs move; back off to a few seconds while nothing changes. The GETs
# of a round go one after another, so a large batch never has more than one in flight.
POLL_FIRST_S = 0.5
POLL_MAX_S = 5.0
POLL_BACKOFF = 1.5


def wait_with_progress(
    client: ApiClient, jobs: list[dict[str, Any]], *, as_json: bool
) -> list[dict[str, Any]]:
    """Polls every job until it ends, with a progress bar each (and one for them all);
    returns the final views."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    latest = {job["id"]: job for job in jobs}
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=stderr,
    )
    try:
        with progress:
            overall = progress.add_task("[bold]all jobs[/]", total=100 * len(latest), note="")
            if len(latest) == 1:
                progress.update(overall, visible=False)
            bars = {
                job_id: progress.add_task(_bar_label(job), total=100, note="")
                for job_id, job in latest.items()
            }
            delay = POLL_FIRST_S
            while True:
                for job_id, bar in bars.items():
                    job = latest[job_id]
                    progress.update(bar, completed=_percent(job), note=_bar_note(job))
                    if job["status"] in FINAL:
                        progress.stop_task(bar)  # its clock stops when it ends
                pending = [i for i, job in latest.items() if job["status"] not in FINAL]
                # A job that ended counts in full here: it will not move again.
                moving = sum(_percent(latest[i]) for i in pending)
                ended = len(latest) - len(pending)
                progress.update(
                    overall, completed=100 * ended + moving, note=f"{ended}/{len(latest)} ended"
                )
                if not pending:
                    break
                time.sleep(delay)
                moved = False
                for job_id in pending:
                    job = client.job(job_id)
                    moved |= _state(job) != _state(latest[job_id])
                    latest[job_id] = job
                delay = POLL_FIRST_S if moved else min(delay * POLL_BACKOFF, POLL_MAX_S)
    except KeyboardInterrupt:
        fail(
            "interrupted",
            "stopped waiting; the jobs carry on (see `ltb status ID`)",
            as_json=as_json,
            status=130,
        )
    return [latest[job["id"]] for job in jobs]


def _percent(job: dict[str, Any]) -> float:
    done = job["status"] in _COMPLETE
    return 100.0 if done else float(job["progress"]["percent"])


def _state(job: dict[str, Any]) -> tuple[Any, ...]:
    return job["status"], job["stage"], job["progress"]["chunks_done"]


def _bar_label(job: dict[str, Any]) -> str:
    name = job["source_uri"].rsplit("/", 1)[-1]
    return escape(f"{job['id'][:8]} {name} → {job['target_lang']}")


def _bar_note(job: dict[str, Any]) -> str:
    status, stage, progress = job["status"], job["stage"], job["progress"]
    note = status
    if status == JobStatus.RUNNING and stage:
        note += f" · {stage}"
    if progress["chunks_total"] and status not in UNSUCCESSFUL:
        note += f" · {progress['chunks_done']}/{progress['chunks_total']} chunks"
    if job["error"]:
        note += f" · {job['error']['code']}"
    return escape(note)


def print_summary(jobs: list[dict[str, Any]]) -> None:
    usages = [job["usage"] for job in jobs]
    cost_header, with_currency = _cost_header(usages)
    rows = [
        [
            escape(job["id"]),
            escape(job["source_uri"].rsplit("/", 1)[-1]),
            escape(job["target_lang"]),
            _status_markup(job["status"]),
            f"{usage['total_tokens']:,}",
            _cost(usage, with_currency),
        ]
        for job, usage in zip(jobs, usages, strict=True)
    ]
    totals: dict[str, float] = {}
    for usage in usages:
        currency = (usage["currency"] if with_currency else None) or ""
        totals[currency] = totals.get(currency, 0.0) + usage["cost"]
    total_cost = " + ".join(
        _cost({"cost": amount, "currency": c}, with_currency) for c, amount in totals.items()
    )
    total_tokens = f"{sum(u['total_tokens'] for u in usages):,}"
    footer = ["total", "", "", "", total_tokens, total_cost]
    headers = ["job", "source", "target", "status", "tokens", cost_header]
    _print_table(_table(headers, rows, numbers_from=4, footer=footer))


def report_unsuccessful(jobs: list[dict[str, Any]]) -> bool:
    """Prints each failed or cancelled job's error; says whether there were any."""
    unsuccessful = [job for job in jobs if job["status"] in UNSUCCESSFUL]
    for job in unsuccessful:
        error = job["error"] or {"code": job["status"], "message": ""}
        stderr.print(
            f"[bold red]{job['status']}[/] {job['id']} "
            f"[red]{escape(error['code'])}[/]: {escape(error['message'])}",
            soft_wrap=True,
        )
    return bool(unsuccessful)


_STATUS_COLOURS: dict[str, str] = {
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "yellow",
}


def _status_markup(status: str) -> str:
    colour = _STATUS_COLOURS.get(status)
    return f"[{colour}]{status}[/]" if colour else escape(status)


def _revision_line(revision: dict[str, Any], current: int) -> str:
    what = (
        f"chunk {revision['chunk_index']} redone" if revision["reason"] == "redo" else "cues edited"
    )
    state = "current" if revision["revision"] == current else revision["status"]
    error = (
        f" ({revision['error']['code']}: {revision['error']['message']})"
        if revision["error"]
        else ""
    )
    return f"{revision['revision']}: {what}, {state}{error}"


def print_job(job: dict[str, Any]) -> None:
    from rich.table import Table

    progress, estimate, usage = job["progress"], job["estimate"], job["usage"]
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("job", escape(job["id"]))
    facts.add_row("status", _status_markup(job["status"]))
    if job["stage"] and job["status"] not in _COMPLETE:
        facts.add_row("stage", escape(job["stage"]))
    facts.add_row(
        "progress",
        f"{progress['chunks_done']}/{progress['chunks_total']} chunks ({progress['percent']:.0f}%)",
    )
    facts.add_row("source", escape(f"{job['source_uri']} ({job['source_lang'] or 'detect'})"))
    outputs = ", ".join(job["requested_outputs"])
    facts.add_row(
        "target",
        escape(f"{job['target_lang']}: {outputs}; visual context {job['visual_context']}"),
    )
    if job["labels"]:
        facts.add_row("labels", escape(" ".join(f"{k}={v}" for k, v in job["labels"].items())))
    for moment in ("created", "started", "finished"):
        if job[f"{moment}_at"]:
            facts.add_row(moment, escape(job[f"{moment}_at"]))
    if estimate["input_tokens"] is not None:
        cost = "" if estimate["cost"] is None else f", cost {estimate['cost']:.6f}"
        facts.add_row(
            "estimate",
            f"{estimate['input_tokens']:,} input tokens, {estimate['output_tokens'] or 0:,} output tokens{cost}",
        )
    kinds = [f"{_short(kind)} {usage[f'{kind}_tokens']:,}" for kind in TOKEN_KINDS]
    facts.add_row("tokens", " · ".join([*kinds, f"total {usage['total_tokens']:,}"]))
    facts.add_row("requests", f"{usage['requests']:,}")
    priced = f" (price table {usage['price_table']})" if usage["price_table"] else ""
    facts.add_row("cost", _cost(usage, with_currency=True) + escape(priced))
    if job["error"]:
        error = job["error"]
        facts.add_row("error", f"[red]{escape(error['code'])}[/]: {escape(error['message'])}")
    for warning in job["warnings"]:
        facts.add_row("warning", f"[yellow]{escape(warning)}[/]")
    for revision in job.get("revisions", []):
        facts.add_row("revision", escape(_revision_line(revision, job.get("output_revision", 0))))
    console.print(facts)
    # URLs on lines of their own, never wrapped, so they can be copied whole.
    for output in job["outputs"]:
        console.print(f"[bold]{output['kind']}[/] {escape(output['uri'])}", soft_wrap=True)
        if output["url"]:
            console.print(f"  {escape(output['url'])}", soft_wrap=True, highlight=False)


def print_usage(report: dict[str, Any]) -> None:
    rows, groups = report["rows"], report["group_by"]
    if not rows:
        console.print("no usage in this period")
        return
    # Kinds nobody used (often video, text input, audio output) only widen the table.
    kinds = [f"{k}_tokens" for k in TOKEN_KINDS if any(row[f"{k}_tokens"] for row in rows)]
    numbers = [*kinds, "total_tokens", "requests"]
    cost_header, with_currency = _cost_header(rows)
    cells = [
        [
            *(escape(row["group"].get(name, "")) for name in groups),
            *(f"{row[name]:,}" for name in numbers),
            _cost(row, with_currency),
        ]
        for row in rows
    ]
    footer = None
    if len(rows) > 1:
        # Costs in different currencies do not add up.
        total_cost = "" if with_currency else f"{sum(row['cost'] for row in rows):.6f}"
        sums = [f"{sum(row[name] for row in rows):,}" for name in numbers]
        footer = ["total", *[""] * (len(groups) - 1), *sums, total_cost]
    headers = [*groups, *(_short(name) for name in numbers), cost_header]
    table = _table(headers, cells, numbers_from=len(groups), footer=footer)
    priced = {row["price_table"] for row in rows} - {None}
    if priced:
        table.caption = escape(f"repriced with {', '.join(sorted(priced))}")
    _print_table(table)


def _table(
    headers: list[str],
    rows: list[list[str]],
    *,
    numbers_from: int,
    footer: list[str] | None = None,
) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_footer=footer is not None)
    for index, header in enumerate(headers):
        table.add_column(
            escape(header),
            footer=footer[index] if footer else "",
            justify="right" if index >= numbers_from else "left",
            no_wrap=True,
        )
    for row in rows:
        table.add_row(*row)
    return table


def _print_table(table: Table) -> None:
    """Prints a table whole: never a figure or an id cut short. A table wider than the
    terminal runs past its edge (the terminal wraps it), as `kubectl get` does."""
    from rich.measure import Measurement

    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    width = console.width
    console.width = max(width, natural)
    try:
        console.print(table)
    finally:
        console.width = width


def _short(field: str) -> str:
    return field.removesuffix("_tokens").replace("_", " ")


def _cost_header(usages: list[dict[str, Any]]) -> tuple[str, bool]:
    """ "cost USD" when every figure is in one currency; else each cost names its own."""
    currencies = {u["currency"] for u in usages if u["currency"]}
    if len(currencies) == 1:
        return f"cost {currencies.pop()}", False
    return "cost", len(currencies) > 1


def _cost(usage: dict[str, Any], with_currency: bool) -> str:
    amount = f"{usage['cost']:.6f}"
    return escape(f"{amount} {usage['currency'] or ''}".strip()) if with_currency else amount
