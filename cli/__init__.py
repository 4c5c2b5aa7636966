"""The one `ltb` command that fronts everything. Each command lives in its own module and
registers itself on the shared typer app when imported here."""

from __future__ import annotations

from cli import (  # noqa: F401  (each module registers its command)
    client_cmd,
    demo_cmd,
    emulator_cmd,
    estimate_cmd,
    revision_cmd,
    service_cmd,
    translate_cmd,
    webhooks_cmd,
)
from cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
