"""The service's commands: database, tenants and keys, and the processes (api, worker, beat)."""

from __future__ import annotations

from typing import Annotated

import typer

from ltb.cli.app import app
from ltb.cli.guard import guarded
from ltb.settings import get_settings

db = typer.Typer(help="The database schema.", no_args_is_help=True)
tenants = typer.Typer(help="Tenants and the sources they may read.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db, name="db")
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")


@db.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from ltb.db.migrate import upgrade

    with guarded():
        settings = get_settings()
        if settings.database.startswith("sqlite"):
            settings.home.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database, revision)


@db.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")],
) -> None:
    """Revert the migrations down to REVISION."""
    from ltb.db.migrate import downgrade

    with guarded():
        downgrade(get_settings().database, revision)


@tenants.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="Tenant name: lower-case letters, digits, - and _.")],
    allow: Annotated[
        list[str],
        typer.Option("--allow", help="s3://bucket/prefix/ the tenant may read; repeatable."),
    ],
) -> None:
    """Create a tenant that may read sources under the --allow prefixes; prints its id."""
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.tenancy import create_tenant

    with guarded(), unit_of_work(session_factory()) as session:
        tenant = create_tenant(session, name=name, allowed_prefixes=allow)
        typer.echo(str(tenant.id))


@tenants.command("show")
def tenants_show(name: Annotated[str, typer.Argument(help="Tenant name.")]) -> None:
    """Print a tenant as JSON: id, allowed prefixes and the secret its webhooks are signed with."""
    import json

    from ltb.db.engine import session_factory
    from ltb.tenancy import find_tenant

    with guarded(), session_factory()() as session:
        tenant = find_tenant(session, name)
        typer.echo(
            json.dumps(
                {
                    "id": str(tenant.id),
                    "name": tenant.name,
                    "allowed_prefixes": tenant.allowed_prefixes,
                    "webhook_secret": tenant.webhook_secret,
                }
            )
        )


@keys.command("create")
def keys_create(tenant: Annotated[str, typer.Option(help="The tenant's name.")]) -> None:
    """Create an API key for a tenant and print it, and only it. It is stored hashed."""
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.tenancy import create_key, find_tenant

    with guarded(), unit_of_work(session_factory()) as session:
        typer.echo(create_key(session, tenant=find_tenant(session, tenant)))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
) -> None:
    """Serve the REST API (OpenAPI at /docs)."""
    import uvicorn

    settings = get_settings()
    _check_storage()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Tasks run at once (processes).")] = None,
    beat: Annotated[
        bool, typer.Option(help="Also run the reaper schedule (single-node installs).")
    ] = False,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "warning",
) -> None:
    """Run a Celery worker: plans, chunks and finalizes jobs."""
    from ltb.queue import QUEUES
    from worker.service.cleanup import sweep_scratch
    from worker.tasks import app as celery_app

    settings = get_settings()
    _check_storage()
    # Leftovers of workers killed on this machine; age-gated, so live siblings keep theirs.
    sweep_scratch(settings)
    argv = [
        "worker",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        f"--queues={','.join(QUEUES)}",
    ]
    if beat:
        argv += ["--beat", f"--schedule={settings.home / 'beat-schedule'}"]
    settings.home.mkdir(parents=True, exist_ok=True)
    celery_app.worker_main(argv)


def _check_storage() -> None:
    """Refuses to start (exit 2, with a code naming the bucket) when a configured bucket
    is missing or read-only, rather than failing every job later."""
    from ltb.buckets import check_buckets
    from ltb.storage import object_store

    with guarded():
        settings = get_settings()
        check_buckets(object_store(settings), settings)


@app.command("beat")
def beat_command(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "warning",
) -> None:
    """Send the reaper every LTB_REAPER_INTERVAL_S (run one per deployment)."""
    from worker.tasks import app as celery_app

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    celery_app.start(
        ["beat", f"--loglevel={loglevel}", f"--schedule={settings.home / 'beat-schedule'}"]
    )
