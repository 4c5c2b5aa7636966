"""`ltb submit`, `ltb status` and `ltb usage`: the REST API from the command line.

`LTB_API_URL` and `LTB_API_KEY` say where the API is and whose key to use (`--api-url` and
`--api-key` override them). httpx, boto3 and the rich widgets load inside the commands,
so `ltb --help` stays quick.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cli.app import app
from cli.client_views import (
    print_job,
    print_summary,
    print_usage,
    report_unsuccessful,
    stderr,
    wait_with_progress,
)
from cli.guard import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    OUTPUT_CHOICES,
    fail,
    guarded,
    on_off,
    parse_list,
)
from ltb.errors import LtbError
from ltb.settings import get_settings

if TYPE_CHECKING:
    from ltb.client import ApiClient
    from ltb.storage import ObjectStore


ApiUrl = Annotated[
    str | None, typer.Option("--api-url", help="The API's base URL \\[default: LTB_API_URL].")
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="An API key from `ltb keys create` \\[default: LTB_API_KEY]; the variable keeps it out of process lists.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@contextmanager
def _client_guard(*, as_json: bool) -> Iterator[None]:
    """As `guarded`, but an unreachable or failing service exits 1 (bad input exits 2), and
    messages holding user text (paths, URIs) are printed literally, never as rich markup."""
    from ltb.client import ApiUnavailable

    with guarded(as_json=as_json):
        try:
            yield
            sys.stdout.flush()  # here, so a closed pipe is caught below and not at exit
        except BrokenPipeError:
            # The reader went away (`ltb submit … | head -1`): stop quietly, as `cat` does.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(EXIT_INTERNAL) from None
        except LtbError as exc:
            status = EXIT_INTERNAL if isinstance(exc, ApiUnavailable) else EXIT_BAD_INPUT
            fail(
                exc.code,
                exc.message if as_json else escape(exc.message),
                as_json=as_json,
                status=status,
            )


def _connect(api_url: str | None, api_key: str | None) -> ApiClient:
    from ltb.client import ApiClient

    settings = get_settings()
    key = api_key or (settings.api_key.get_secret_value() if settings.api_key else "")
    if not key:
        raise LtbError(
            "no API key: create one with `ltb keys create --tenant NAME` and set LTB_API_KEY (or pass --api-key)",
            code="missing_api_key",
        )
    return ApiClient(api_url or settings.api_url, key)


# --- ltb submit ---------------------------------------------------------------------------


@app.command()
def submit(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE", help="s3://bucket/key URIs, or local files (uploaded first)."
        ),
    ],
    target: Annotated[str, typer.Option(help="Target languages, comma-separated: en or en,ja.")],
    source: Annotated[
        str | None, typer.Option(help="Source language code; leave out to detect it.")
    ] = None,
    outputs: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated outputs: {OUTPUT_CHOICES} \\[default: text,srt]."),
    ] = None,
    voice: Annotated[str | None, typer.Option(help="Dub voice, e.g. Cherry, Nofish, Kiki.")] = None,
    visual_context: Annotated[
        str, typer.Option("--visual-context", help="Send video frames as context: on or off.")
    ] = "off",
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="name=value to group usage by; repeatable."),
    ] = None,
    upload_prefix: Annotated[
        str | None,
        typer.Option(
            help="s3://bucket/prefix/ for local files \\[default: LTB_UPLOAD_PREFIX]; the tenant must be allowed to read it."
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show progress until every job ends; then a summary.")
    ] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Submit a translation job per SOURCE and target language.

    Local files are uploaded to --upload-prefix first. Running the same command again finds the same jobs instead of creating new ones. With --wait, it shows progress and exits 1 if any job failed or was cancelled.
    """
    with _client_guard(as_json=as_json):
        targets = parse_list(target)
        if not targets:
            raise LtbError("--target needs at least one language code", code="invalid_option")
        body: dict[str, Any] = {
            "visual_context": "on" if on_off(visual_context, name="--visual-context") else "off"
        }
        if source:
            body["source_lang"] = source
        if outputs is not None:
            body["outputs"] = parse_list(outputs)
        if voice:
            body["voice"] = voice
        if label:
            body["labels"] = _labels(label)
        files = _local_files(sources)
        prefix = _upload_prefix(upload_prefix) if files else ""
        with _connect(api_url, api_key) as client:
            uris = _upload(files, prefix) if files else {}
            # Two paths to one file upload to one object: submit it once.
            source_uris = list(dict.fromkeys(uris.get(s, s) for s in sources))
            jobs = _submit_all(client, source_uris, targets, body, echo=not as_json)
            if wait:
                jobs = wait_with_progress(client, jobs, as_json=as_json)
        if as_json:
            print(json.dumps(jobs, indent=2))
        elif wait:
            print_summary(jobs)
        if wait and report_unsuccessful(jobs):
            raise SystemExit(EXIT_INTERNAL)


def idempotency_key(body: dict[str, Any]) -> str:
    """The same source, target and request body always give the same key, so a re-run
    finds its jobs; any change to the request makes a new one."""
    canonical = json.dumps(
        [body["source_uri"], body["target_lang"], body], sort_keys=True, separators=(",", ":")
    )
    return "ltb-submit-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _labels(pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise LtbError(f"--label takes name=value, not {pair!r}", code="invalid_label")
        if name in labels:
            raise LtbError(f"--label {name} is given twice", code="invalid_label")
        labels[name] = value
    return labels


def _local_files(sources: list[str]) -> dict[str, Path]:
    """The sources that are local files, checked; s3:// URIs are left to the API."""
    files: dict[str, Path] = {}
    for source in sources:
        if source.startswith("s3://"):
            continue
        if "://" in source:
            raise LtbError(
                f"{source} is neither an s3:// URI nor a local file", code="invalid_source_uri"
            )
        path = Path(source)
        if not path.exists():
            raise LtbError(f"{source} does not exist", code="source_not_found")
        if not path.is_file():
            raise LtbError(f"{source} is not a file", code="source_not_a_file")
        files[source] = path
    return files


def _upload_prefix(option: str | None) -> str:
    prefix = option or get_settings().upload_prefix
    if not prefix:
        raise LtbError(
            "local files are uploaded before they are submitted: pass --upload-prefix s3://bucket/prefix/ or set LTB_UPLOAD_PREFIX (a prefix the tenant may read)",
            code="missing_upload_prefix",
        )
    bucket = prefix.removeprefix("s3://").split("/", 1)[0]
    if not prefix.startswith("s3://") or not bucket:
        raise LtbError(
            f"the upload prefix must look like s3://bucket/prefix/, not {prefix!r}",
            code="invalid_upload_prefix",
        )
    return prefix if prefix.endswith("/") else prefix + "/"


def _upload(files: dict[str, Path], prefix: str) -> dict[str, str]:
    """Uploads each file to <prefix><sha256[:16]>/<name> unless it is already there."""
    import mimetypes

    from ltb.storage import ObjectRef, object_store

    store: ObjectStore = object_store(get_settings())
    uris: dict[str, str] = {}
    for source, path in files.items():
        with stderr.status(f"hashing {escape(path.name)}"):
            digest = _sha256(path)
        ref = ObjectRef.parse(f"{prefix}{digest[:16]}/{path.name}")
        # The key holds the content's hash: an object already there is this very file.
        if store.exists(ref):
            stderr.print(f"[dim]already uploaded[/] {escape(source)} → {escape(ref.uri)}")
        else:
            with stderr.status(f"uploading {escape(path.name)} to {escape(ref.uri)}"):
                store.upload_file(path, ref, content_type=mimetypes.guess_type(path.name)[0])
            stderr.print(f"[dim]uploaded[/] {escape(source)} → {escape(ref.uri)}")
        uris[source] = ref.uri
    return uris


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _submit_all(
    client: ApiClient, uris: list[str], targets: list[str], common: dict[str, Any], *, echo: bool
) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    for uri in uris:
        for target in dict.fromkeys(targets):
            body = {"source_uri": uri, "target_lang": target, **common}
            try:
                job = client.submit(body, idempotency_key(body))
            except LtbError:
                if jobs:
                    stderr.print(
                        f"[yellow]{len(jobs)} job(s) were submitted before this error;[/] "
                        "the same command, once fixed, finds them instead of submitting them again"
                    )
                raise
            jobs.append(job)
            if echo:
                print(f"{job['id']}  {job['source_uri']}  {job['target_lang']}  {job['status']}")
    return jobs


# --- ltb status ---------------------------------------------------------------------------


@app.command()
def status(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Show a job: status, stage, progress, estimate, usage by token kind, cost, outputs."""
    with _client_guard(as_json=as_json):
        with _connect(api_url, api_key) as client:
            job = client.job(job_id)
        if as_json:
            print(json.dumps(job, indent=2))
        else:
            print_job(job)


# --- ltb usage ----------------------------------------------------------------------------


@app.command()
def usage(
    since: Annotated[
        str | None, typer.Option("--from", help="First day (UTC), e.g. 2025-12-01.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="End (UTC, exclusive), e.g. 2026-01-01.")
    ] = None,
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by",
            help="Comma-separated: day, week, month, target_lang, source_lang, model, batch, label:<name>.",
        ),
    ] = "day",
    csv: Annotated[bool, typer.Option("--csv", help="Print the API's CSV verbatim.")] = False,
    price_table: Annotated[
        str | None, typer.Option("--price-table", help="Reprice with this price table id.")
    ] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Tokens by kind, requests and cost for your tenant, grouped."""
    params = {
        "from": since,
        "to": until,
        "group_by": ",".join(parse_list(group_by)),
        "price_table": price_table,
    }
    with _client_guard(as_json=False):
        with _connect(api_url, api_key) as client:
            report = client.usage({k: v for k, v in params.items() if v is not None}, csv=csv)
        if isinstance(report, str):
            sys.stdout.write(report)
        else:
            print_usage(report)
