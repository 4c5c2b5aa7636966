"""`ltb cues get/put` and `ltb redo`: fix a line of a finished job without paying again.

`ltb cues get JOB --out cues.json` saves the cues; edit the texts and times in the file;
`ltb cues put JOB cues.json` sends only the cues that changed, so a rule an untouched cue
already breaks never blocks the edit. `ltb redo JOB CHUNK` translates one chunk again
(billed as one `redo` request). Each queues a new output revision; `ltb status` shows it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.app import app
from cli.client_cmd import ApiKey, ApiUrl, AsJson, _client_guard, _connect
from cli.client_views import stderr
from ltb.errors import LtbError

cues_app = typer.Typer(
    help="A finished job's subtitle cues: save them, send edits.", no_args_is_help=True
)
app.add_typer(cues_app, name="cues")

# Times closer than this are the same time: SRT and VTT are written in whole milliseconds.
_SAME_TIME_S = 0.0005


@cues_app.command("get")
def get_cues(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the cues to this JSON file.")
    ] = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Print (or save) a succeeded job's cues: index, start_s, end_s, text, source_text."""
    with _client_guard(as_json=False):
        with _connect(api_url, api_key) as client:
            cues = client.cues(job_id)
        text = json.dumps(cues, indent=2, ensure_ascii=False) + "\n"
        if out is None:
            print(text, end="")
        else:
            out.write_text(text, encoding="utf-8")
            stderr.print(
                f"{len(cues['cues'])} cues of revision {cues['revision']} → {escape(str(out))}"
            )


@cues_app.command("put")
def put_cues(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")],
    path: Annotated[Path, typer.Argument(metavar="CUES_JSON", help="The edited file.")],
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Send the cues of CUES_JSON that differ from the job's current ones; a new output revision is written from them.

    Only changed cues are sent, so a rule an untouched cue already breaks never blocks the edit. Violations of the subtitle rules are listed by cue, and nothing is written.
    """
    from ltb.client import ApiRefused

    with _client_guard(as_json=as_json):
        edited = _read_cues(path)
        with _connect(api_url, api_key) as client:
            current = {c["index"]: c for c in client.cues(job_id)["cues"]}
            edits = _changes(current, edited)
            if not edits:
                stderr.print("no cue differs from the job's current cues; nothing sent")
                return
            try:
                revision = client.edit_cues(job_id, edits)
            except ApiRefused as exc:
                for violation in exc.body.get("violations", []):
                    stderr.print(
                        f"cue {violation['index']}: [bold]{escape(violation['rule'])}[/] "
                        f"{escape(violation['message'])}"
                    )
                raise
        _print_revision(revision, job_id, as_json=as_json, what=f"{len(edits)} cue(s) edited")


@app.command()
def redo(
    job_id: Annotated[str, typer.Argument(metavar="JOB_ID", help="The job's id.")],
    chunk_index: Annotated[
        int,
        typer.Argument(metavar="CHUNK_INDEX", min=0, help="The chunk, as the manifest numbers it."),
    ],
    voice: Annotated[str | None, typer.Option(help="Dub the chunk with this voice.")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Translate one chunk of a succeeded job again (one billed request, purpose `redo`); every output is then assembled again as a new revision."""
    with _client_guard(as_json=as_json):
        with _connect(api_url, api_key) as client:
            revision = client.redo(job_id, chunk_index, voice)
        _print_revision(revision, job_id, as_json=as_json, what=f"chunk {chunk_index} redone")


def _read_cues(path: Path) -> list[dict[str, Any]]:
    """The cues of a file `ltb cues get` wrote (or a bare list of them)."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LtbError(f"{path} does not exist", code="file_not_found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise LtbError(f"{path} is not a JSON file: {exc}", code="invalid_cues_file") from None
    cues = loaded.get("cues") if isinstance(loaded, dict) else loaded
    if not isinstance(cues, list) or not all(
        isinstance(c, dict) and isinstance(c.get("index"), int) for c in cues
    ):
        raise LtbError(
            f"{path} holds no cue list: expected what `ltb cues get --out` writes",
            code="invalid_cues_file",
        )
    return cues


def _changes(
    current: dict[int, dict[str, Any]], edited: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each cue of `edited` that differs, with only its changed fields."""
    edits: list[dict[str, Any]] = []
    for cue in edited:
        before = current.get(cue["index"])
        change: dict[str, Any] = {"index": cue["index"]}
        if before is None:
            edits.append(
                {**change, **{k: cue[k] for k in ("text", "start_s", "end_s") if k in cue}}
            )
            continue
        if "text" in cue and cue["text"] != before["text"]:
            change["text"] = cue["text"]
        for key in ("start_s", "end_s"):
            value = cue.get(key)
            if isinstance(value, int | float) and not math.isclose(
                value, before[key], abs_tol=_SAME_TIME_S
            ):
                change[key] = value
        if len(change) > 1:
            edits.append(change)
    return edits


def _print_revision(revision: dict[str, Any], job_id: str, *, as_json: bool, what: str) -> None:
    if as_json:
        print(json.dumps(revision, indent=2))
        return
    print(
        f"{what}: revision {revision['revision']} is {revision['status']}; "
        f"`ltb status {job_id}` shows when it is ready"
    )
