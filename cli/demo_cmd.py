"""`ltb demo`: the newcomer's first run, on a bundled sample, with every output."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app
from cli.guard import guarded
from cli.translate_cmd import console, run_translate

SAMPLE = "data/demo-sample.mp4"


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Directory to write the outputs into.")] = Path(
        "demo-out"
    ),
) -> None:
    """Translate the bundled 27-second sample (Chinese, Spanish, German) to English:
    text, SRT, VTT, a WAV dub and the manifest with its token bill."""
    with guarded():
        with resources.as_file(resources.files("ltb").joinpath(SAMPLE)) as sample:
            console.print(
                f"[bold]Demo:[/] {sample.name}, speech in Chinese, Spanish and German → English"
            )
            result = run_translate(sample, target="en", out=out, outputs="text,srt,vtt,wav")
        if result.error is not None:
            raise result.error
        console.print(
            f"\n[bold green]Done.[/] Open {out}/subtitles.srt, play {out}/dub.wav, read {out}/manifest.json"
        )
