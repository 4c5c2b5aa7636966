"""The typer application every `ltb` command registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ltb",
    help="livetranslate-batch: translate audio and video libraries with qwen3-livetranslate-flash.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@app.callback()
def _root() -> None:
    """livetranslate-batch: translate audio and video libraries with qwen3-livetranslate-flash."""
