"""`ltb webhooks`: the processes that deliver webhooks, apart from those that translate."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app
from ltb.settings import get_settings


@app.command()
def webhooks(
    concurrency: Annotated[
        int | None, typer.Option(help="Deliveries made at once (processes).")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "warning",
) -> None:
    """Run a Celery worker that only delivers webhooks (the ltb.webhooks queue).

    A receiver that answers slowly holds one of these processes for at most
    LTB_WEBHOOK_TIMEOUT_S, and never a worker that translates.
    """
    from ltb.queue import WEBHOOK_QUEUE
    from worker.tasks import app as celery_app

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    celery_app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency or settings.webhook_concurrency}",
            f"--loglevel={loglevel}",
            "--without-gossip",
            "--without-mingle",
            f"--queues={WEBHOOK_QUEUE}",
            # Its own node name, so it is told apart from `ltb worker` on the same host.
            "--hostname=webhooks@%h",
        ]
    )
