"""The service's commands: database, tenants and keys, and the processes (api, worker, beat)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app
from cli.guard import guarded
from ltb.settings import Settings, get_settings

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
    allow_read: Annotated[
        list[str],
        typer.Option(
            "--allow-read",
            "--allow",
            help="s3://bucket/prefix/ folder the tenant's jobs may read sources from; "
            "repeatable. --allow is the same option.",
        ),
    ],
    allow_write: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-write",
            help="s3://bucket/prefix/ folder the tenant's jobs may write outputs to (the "
            "output_prefix of a job), besides its default output folder; repeatable.",
        ),
    ] = None,
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            help="Delete each finished job's outputs this many days after it finished "
            "(default: keep them until the job is deleted).",
        ),
    ] = None,
) -> None:
    """Create a tenant with its read (and write) grants; prints its id.

    Grants are folders: s3://media/acme covers s3://media/acme/talk.mp4, not
    s3://media/acme-other/. A read grant is never a write grant.
    """
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.tenancy import create_tenant

    with guarded(), unit_of_work(session_factory()) as session:
        tenant = create_tenant(
            session,
            name=name,
            read_prefixes=allow_read,
            write_prefixes=allow_write or [],
            retention_days=retention_days,
        )
        typer.echo(str(tenant.id))


@tenants.command("show")
def tenants_show(name: Annotated[str, typer.Argument(help="Tenant name.")]) -> None:
    """Print a tenant as JSON: id, read and write grants, the default output folder and the
    secret its webhooks are signed with."""
    import json

    from ltb.db.engine import session_factory
    from ltb.tenancy import default_output_folder, find_tenant

    with guarded(), session_factory()() as session:
        tenant = find_tenant(session, name)
        typer.echo(
            json.dumps(
                {
                    "id": str(tenant.id),
                    "name": tenant.name,
                    "read_prefixes": tenant.read_prefixes,
                    "write_prefixes": tenant.write_prefixes,
                    "default_output_prefix": default_output_folder(
                        tenant, output_bucket=get_settings().output_bucket
                    ),
                    "webhook_secret": tenant.webhook_secret,
                    "retention_days": tenant.retention_days,
                    "weight": tenant.weight,
                    "max_concurrent_chunks": tenant.max_concurrent_chunks,
                    "monthly_token_budget": tenant.monthly_token_budget,
                }
            )
        )


@tenants.command("update")
def tenants_update(
    name: Annotated[str, typer.Argument(help="Tenant name.")],
    retention_days: Annotated[
        int | None,
        typer.Option(
            "--retention-days",
            help="Delete each finished job's outputs (and every copy made for it) this many "
            "days after it finished; applies to jobs already finished too.",
        ),
    ] = None,
    keep_forever: Annotated[
        bool,
        typer.Option(
            "--keep-forever", help="Keep outputs until their job is deleted (no retention)."
        ),
    ] = False,
    weight: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Share of the account quota against other tenants with work waiting "
            "(default 1): weight 3 gets three chunks in flight for each one of a weight-1 tenant.",
        ),
    ] = None,
    max_concurrent_chunks: Annotated[
        int | None,
        typer.Option(min=0, help="At most this many of its chunks in flight at once; 0: no cap."),
    ] = None,
    monthly_token_budget: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Refuse new jobs (429 tenant_budget_exhausted) once this calendar month's "
            "booked tokens reach it; 0: no budget.",
        ),
    ] = None,
) -> None:
    """Change a tenant's settings; options left out keep their values. Prints the tenant
    as `ltb tenants show` does."""
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.errors import RequestRefused
    from ltb.tenancy import TenantShares, find_tenant, set_retention, update_shares

    shares = TenantShares(
        weight=weight,
        max_concurrent_chunks=max_concurrent_chunks,
        monthly_token_budget=monthly_token_budget,
    )
    retention = keep_forever or retention_days is not None
    with guarded():
        if keep_forever and retention_days is not None:
            raise RequestRefused(
                "give one of --retention-days N or --keep-forever, not both",
                code="invalid_tenant_update",
            )
        if not retention and shares == TenantShares(None, None, None):
            raise RequestRefused(
                "nothing to change: give --retention-days, --keep-forever, --weight, "
                "--max-concurrent-chunks or --monthly-token-budget",
                code="invalid_tenant_update",
            )
        with unit_of_work(session_factory()) as session:
            tenant = find_tenant(session, name)
            if retention:
                set_retention(session, tenant, retention_days)
            update_shares(session, tenant, shares)
    tenants_show(name)


@tenants.command("rotate-secret")
def tenants_rotate_secret(name: Annotated[str, typer.Argument(help="Tenant name.")]) -> None:
    """Give the tenant a new webhook secret and print it. Every delivery from now on,
    retries of earlier events included, is signed with the new secret."""
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.tenancy import find_tenant, rotate_webhook_secret

    with guarded():
        with unit_of_work(session_factory()) as session:
            secret = rotate_webhook_secret(session, find_tenant(session, name))
        # Printed once committed: a secret that never took effect would sign nothing.
        typer.echo(secret)


@keys.command("create")
def keys_create(
    tenant: Annotated[str | None, typer.Option(help="The tenant's name.")] = None,
    operator: Annotated[
        bool,
        typer.Option(
            "--operator",
            help="An operator key instead: no tenant; signs in to the console's read-only "
            "view across tenants; the tenant API refuses it.",
        ),
    ] = False,
) -> None:
    """Create an API key for a tenant (or an operator key) and print it, and only it.
    It is stored hashed."""
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.errors import RequestRefused
    from ltb.tenancy import create_key, create_operator_key, find_tenant

    with guarded():
        if operator == (tenant is not None):
            raise RequestRefused(
                "give exactly one of --tenant NAME or --operator", code="invalid_key_request"
            )
        with unit_of_work(session_factory()) as session:
            if tenant is None:
                key = create_operator_key(session)
            else:
                key = create_key(session, tenant=find_tenant(session, tenant))
        typer.echo(key)


@keys.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="The tenant's name.")] = None,
    operator: Annotated[
        bool, typer.Option("--operator", help="The operator keys instead of a tenant's.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON array instead of a table.")
    ] = False,
) -> None:
    """List a tenant's keys (or the operator keys): id, the key's first characters, when
    created and revoked. The keys themselves are never stored, so they cannot be shown."""
    import json

    from ltb.db.engine import session_factory
    from ltb.errors import RequestRefused
    from ltb.tenancy import find_tenant
    from ltb.tenant_repository import list_keys, list_operator_keys

    with guarded(), session_factory()() as session:
        if operator == (tenant is not None):
            raise RequestRefused(
                "give exactly one of --tenant NAME or --operator", code="invalid_key_request"
            )
        found = (
            list_operator_keys(session)
            if tenant is None
            else list_keys(session, tenant=find_tenant(session, tenant))
        )
        listed = [
            {
                "id": str(key.id),
                "prefix": key.display_prefix,
                "created_at": key.created_at.isoformat(),
                "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            }
            for key in found
        ]
    if as_json:
        typer.echo(json.dumps(listed))
        return
    for row in listed:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        typer.echo(f"{row['id']}  {row['prefix']}…  created {row['created_at']}  {state}")


@keys.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, from `ltb keys list`.")],
) -> None:
    """Revoke an API key. Every API process refuses it within LTB_AUTH_CACHE_S seconds."""
    from ltb.db.engine import session_factory, unit_of_work
    from ltb.tenancy import revoke_key

    with guarded():
        with unit_of_work(session_factory()) as session:
            key = revoke_key(session, key_id)
            done = f"{key.id} revoked at {key.revoked_at.isoformat() if key.revoked_at else ''}"
        typer.echo(done)


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(help="Server processes.")] = 1,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="Interface for GET /metrics (default LTB_METRICS_HOST, loopback)."),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Port for GET /metrics (default LTB_METRICS_PORT).")
    ] = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs), and Prometheus metrics on a listener of
    their own (GET /metrics on --metrics-host:--metrics-port), never on the API's."""
    import uvicorn

    from cli.metrics_listener import metrics_listener

    settings = get_settings()
    _check_storage()
    with guarded():
        listener = metrics_listener(
            metrics_host or settings.metrics_host, metrics_port or settings.metrics_port
        )
    with listener:
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
        bool,
        typer.Option(
            help="Also run the reaper schedule and deliver webhooks (single-node installs)."
        ),
    ] = False,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "warning",
) -> None:
    """Run a Celery worker: plans, chunks and finalizes jobs."""
    from ltb.providers import require_provider_key

    settings = get_settings()
    with guarded():
        require_provider_key(settings)
    _check_storage()

    from ltb.queue import QUEUES, WEBHOOK_QUEUE
    from worker.cleanup import sweep_scratch
    from worker.tasks import app as celery_app

    # Leftovers of workers killed on this machine; age-gated, so live siblings keep theirs.
    sweep_scratch(settings)
    _forget_unknown_sources(settings)
    argv = [
        "worker",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        # A single node has no `ltb webhooks` beside it: its worker delivers them too.
        f"--queues={','.join((*QUEUES, WEBHOOK_QUEUE) if beat else QUEUES)}",
    ]
    if beat:
        argv += ["--beat", f"--schedule={settings.home / 'beat-schedule'}"]
    settings.home.mkdir(parents=True, exist_ok=True)
    celery_app.worker_main(argv)


def _forget_unknown_sources(settings: Settings) -> None:
    """Drops this machine's copies of sources whose jobs were deleted while it was away.
    A database that is briefly down does not stop the worker: the next sweep does it."""
    from sqlalchemy.exc import SQLAlchemyError

    from ltb.db.engine import session_factory
    from worker.cleanup import forget_unknown_sources

    sessions = session_factory(settings)
    try:
        forget_unknown_sources(settings, sessions)
    except SQLAlchemyError as exc:
        typer.echo(f"warning: could not check the cached sources yet: {exc}", err=True)
    finally:
        # No connection of the parent may outlive the fork into the pool's processes.
        bind = sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()


def _check_storage() -> None:
    """Refuses to start (exit 2, with a code naming the bucket) when a configured bucket
    is missing or read-only, rather than failing every job later."""
    from ltb.buckets import check_buckets
    from ltb.storage import StorageError, object_store

    with guarded():
        settings = get_settings()
        try:
            check_buckets(object_store(settings), settings)
        except StorageError as exc:
            if not exc.transient:
                raise
            # Storage that is down for a moment is not a wrong setting: the process starts,
            # its tasks retry, and /readyz reports storage until it answers again.
            typer.echo(f"warning: could not check the buckets yet: {exc.message}", err=True)


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
