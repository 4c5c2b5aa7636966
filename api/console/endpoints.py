"""/console: the pages. Each one calls the REST API's own endpoint functions with the
signed-in tenant, so the console shows and does exactly what the API would."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Coroutine
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from api.batches import endpoints as batches_api
from api.batches import repository as batches_repository
from api.console import cues, fleet, media
from api.console.auth import COOKIE, PATH, SignInRequired, ViewerDep, resolve
from api.console.charts import usage_chart
from api.deps import ContextDep, SessionDep, UnitOfWorkDep
from api.errors import ApiError
from api.jobs import endpoints as jobs_api
from api.jobs import service as jobs_service
from api.usage import endpoints as usage_api
from api.usage.schemas import UsageReport
from ltb.errors import LtbError
from ltb.outputs import revision_prefix
from ltb.retention import outputs_gone
from ltb.schemas import Language
from ltb.states import JOB_ACTIVE, JOB_FINISHED, BatchStatus, JobStatus, OutputKind
from ltb.storage import ObjectRef
from ltb.views import JOB_STATUSES, OUTPUT_FILES

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["seconds"] = lambda s: f"{int(s // 60):02d}:{s % 60:06.3f}"
# Templates name states by the enums, never by string literals.
templates.env.globals |= {
    "JobStatus": JobStatus,
    "BatchStatus": BatchStatus,
    # A batch's table shows a column per status; estimate-only jobs count as finished only.
    "BATCH_COLUMNS": tuple(status for status in JobStatus if status is not JobStatus.ESTIMATED),
}
templates.env.filters["finished"] = lambda counts: sum(counts.get(s, 0) for s in JOB_FINISHED)


class ConsoleRoute(APIRoute):
    """Errors become pages (or, for htmx, a message in place), never the API's JSON; an
    unsigned request goes to the sign-in page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                if request.headers.get("HX-Request"):
                    return Response(status_code=401, headers={"HX-Redirect": f"{PATH}/sign-in"})
                if request.method == "GET" and request.url.path != f"{PATH}/sign-in":
                    return RedirectResponse(f"{PATH}/sign-in", status_code=303)
                return _error_page(request, 401, exc.code, exc.message)
            except ApiError as exc:
                return _error_page(request, exc.status, exc.code, exc.message)
            except LtbError as exc:
                return _error_page(request, 422, exc.code, exc.message)

        return handle


router = APIRouter(prefix=PATH, route_class=ConsoleRoute, include_in_schema=False)


def _error_page(request: Request, status: int, code: str, message: str) -> Response:
    page = {"status": status, "code": code, "message": message, "viewer": None}
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers; the message goes to the page's message area, and
        # what the request meant to replace stays as it was.
        return templates.TemplateResponse(
            request,
            "_error.html",
            page,
            headers={"HX-Retarget": "#console-message", "HX-Reswap": "innerHTML"},
        )
    return templates.TemplateResponse(request, "error.html", page, status_code=status)


STATIC = (HERE / "static").resolve()


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    """The console's own script, style and vendored libraries; cached for a day."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise ApiError(404, "not_found", "file not found")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


# -- sign-in ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse(
        f"{PATH}/jobs" if request.cookies.get(COOKIE) else f"{PATH}/sign-in", status_code=303
    )


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "sign_in.html", {"viewer": None, "error": None})


async def _posted_key(request: Request) -> str:
    # A urlencoded form of one field: the standard library reads it, no multipart parser.
    body = await request.body()
    fields = parse_qs(body.decode("utf-8", "replace")[:4096])
    return (fields.get("api_key") or [""])[0].strip()


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request, session: SessionDep, key: Annotated[str, Depends(_posted_key)]
) -> Response:
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        # Another site's form must not sign a visitor in under a key of its choosing.
        raise ApiError(403, "cross_origin_sign_in", "sign in from the console's own page")
    try:
        viewer = resolve(request, session, key)
    except SignInRequired as exc:
        return templates.TemplateResponse(
            request, "sign_in.html", {"viewer": None, "error": exc.message}, status_code=401
        )
    response = RedirectResponse(
        f"{PATH}/fleet" if viewer.operator else f"{PATH}/jobs", status_code=303
    )
    response.set_cookie(
        COOKIE,
        key,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
def sign_out(viewer: ViewerDep) -> Response:
    response = Response(status_code=204, headers={"HX-Redirect": f"{PATH}/sign-in"})
    response.delete_cookie(COOKIE, path=PATH)
    return response


# -- jobs ---------------------------------------------------------------------------------


def _day(raw: str | None, *, end: bool = False) -> datetime | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(422, "invalid_date", f"dates look like 2026-11-28 (got {raw!r})") from exc
    return datetime.combine(day, time.min) if not end else datetime.combine(day, time.max)


_Choice = TypeVar("_Choice", bound=StrEnum)


def _choice(kind: type[_Choice], raw: str, code: str) -> _Choice | None:
    """A filter's value as the API's enum: the console offers only known values."""
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError as exc:
        raise ApiError(422, code, f"{raw!r} is not one of: {', '.join(kind)}") from exc


def _batch_id(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise ApiError(422, "invalid_batch_id", f"{raw!r} is not a batch id") from exc


def _job_rows(
    viewer: ViewerDep, session: SessionDep, context: ContextDep, request: Request
) -> dict[str, Any]:
    q = request.query_params
    filters = {
        name: q.get(name, "") for name in ("status", "target", "label", "batch", "from", "to")
    }
    page = jobs_api.list_jobs(
        tenant=viewer.require_tenant(),
        session=session,
        context=context,
        status=_choice(JobStatus, filters["status"], "invalid_status"),
        target=_choice(Language, filters["target"], "unknown_language"),
        label=filters["label"] or None,
        batch_id=_batch_id(filters["batch"]),
        created_from=_day(filters["from"]),
        created_to=_day(filters["to"], end=True),
        cursor=q.get("cursor") or None,
        limit=50,
    )
    return {
        "viewer": viewer,
        "filters": filters,
        "statuses": JOB_STATUSES,
        "page": page,
        "live": any(job.status in JOB_ACTIVE for job in page.jobs),
        "query": urlencode({k: v for k, v in filters.items() if v}),
    }


@router.get("/jobs", response_class=HTMLResponse)
def job_list(
    request: Request, viewer: ViewerDep, session: SessionDep, context: ContextDep
) -> Response:
    if viewer.operator:
        return RedirectResponse(f"{PATH}/fleet", status_code=303)
    return templates.TemplateResponse(
        request, "jobs.html", _job_rows(viewer, session, context, request)
    )


@router.get("/jobs/rows", response_class=HTMLResponse)
def job_rows(
    request: Request, viewer: ViewerDep, session: SessionDep, context: ContextDep
) -> Response:
    """The list's table alone, which the page re-fetches while any job is active."""
    return templates.TemplateResponse(
        request, "_job_rows.html", _job_rows(viewer, session, context, request)
    )


def _job_context(
    viewer: ViewerDep, session: SessionDep, context: ContextDep, job_id: uuid.UUID
) -> dict[str, Any]:
    tenant = viewer.require_tenant()
    job = jobs_api.get_job(job_id, tenant, session, context)
    return {"viewer": viewer, "job": job, "live": job.status in JOB_ACTIVE}


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request,
    job_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    page = _job_context(viewer, session, context, job_id)
    job = page["job"]
    row = jobs_service.find(session, tenant=viewer.require_tenant(), job_id=job_id)
    # The outputs of the job's current revision (a cue edit or redo writes under rev-N/).
    outputs_prefix = revision_prefix(row.output_prefix, row.output_revision)
    manifest = cues.read_manifest(context.store, outputs_prefix) if job.outputs else None
    video = cues.source_video(manifest)
    cue_rows: list[cues.CueRow] = []
    cue_error = None
    # A deleted or expired job lists no outputs: nothing is left to read or play.
    delivered = job.status == JobStatus.SUCCEEDED and bool(job.outputs)
    if delivered and OutputKind.SRT in job.requested_outputs:
        try:
            cue_rows = cues.read_cues(context.store, outputs_prefix, job.target_lang)
        except LtbError as exc:
            cue_error = exc.message
    page |= {
        "manifest": manifest,
        "video": video,
        "cues": cue_rows,
        "cue_error": cue_error,
        "violating": sum(1 for cue in cue_rows if cue.violations),
        "has_dub": delivered and OutputKind.WAV in job.requested_outputs,
        "has_vtt": delivered and OutputKind.VTT in job.requested_outputs,
        "token_kinds": [
            ("input audio", job.usage.input_audio_tokens),
            ("input video", job.usage.input_video_tokens),
            ("input text", job.usage.input_text_tokens),
            ("output text", job.usage.output_text_tokens),
            ("output audio", job.usage.output_audio_tokens),
            ("input image", job.usage.input_image_tokens),
        ],
    }
    return templates.TemplateResponse(request, "job.html", page)


@router.get("/jobs/{job_id}/progress", response_class=HTMLResponse)
def job_progress(
    request: Request,
    job_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    page = _job_context(viewer, session, context, job_id)
    response = templates.TemplateResponse(request, "_job_progress.html", page)
    if not page["live"]:
        # Finished while the page watched: reload it once for the outputs, cues and player.
        response.headers["HX-Refresh"] = "true"
    return response


_OUTPUT_NAMES = OUTPUT_FILES | {"manifest": "manifest.json"}


@router.get("/jobs/{job_id}/outputs/{kind}")
def job_output(
    job_id: uuid.UUID,
    kind: str,
    viewer: ViewerDep,
    session: SessionDep,
    context: ContextDep,
    download: Annotated[bool, Query()] = False,
) -> Response:
    job = jobs_service.find(session, tenant=viewer.require_tenant(), job_id=job_id)
    name = _OUTPUT_NAMES.get(kind)
    if (
        job.status != JobStatus.SUCCEEDED
        or outputs_gone(job)
        or name is None
        or (kind != "manifest" and kind not in job.outputs)
    ):
        raise ApiError(404, "not_found", "output not found")
    return media.serve(
        context.store,
        ObjectRef.parse(revision_prefix(job.output_prefix, job.output_revision) + name),
        download_name=f"{job.id}-{name}" if download else None,
    )


@router.get("/jobs/{job_id}/source")
def job_source(
    job_id: uuid.UUID, viewer: ViewerDep, session: SessionDep, context: ContextDep
) -> Response:
    """The job's source, for the page's video player; read as the job read it."""
    job = jobs_service.find(session, tenant=viewer.require_tenant(), job_id=job_id)
    return media.serve(context.store, ObjectRef.parse(job.source_uri))


# -- batches ------------------------------------------------------------------------------


@router.get("/batches", response_class=HTMLResponse)
def batch_list(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    tenant = viewer.require_tenant()
    batches = batches_repository.newest(session, tenant_id=tenant.id, limit=100)
    views = [batches_api.get_batch(batch.id, tenant, session) for batch in batches]
    return templates.TemplateResponse(request, "batches.html", {"viewer": viewer, "batches": views})


def _batch_page(request: Request, viewer: ViewerDep, batch: Any, notice: str | None) -> Response:
    name = "_batch.html" if request.headers.get("HX-Request") else "batch.html"
    return templates.TemplateResponse(
        request,
        name,
        {
            "viewer": viewer,
            "batch": batch,
            "notice": notice,
            "live": batch.status == BatchStatus.OPEN,
        },
    )


@router.get("/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    request: Request, batch_id: uuid.UUID, viewer: ViewerDep, session: SessionDep
) -> Response:
    batch = batches_api.get_batch(batch_id, viewer.require_tenant(), session)
    return _batch_page(request, viewer, batch, None)


@router.post("/batches/{batch_id}/retry-failed", response_class=HTMLResponse)
def batch_retry_failed(
    request: Request, batch_id: uuid.UUID, viewer: ViewerDep, uow: UnitOfWorkDep
) -> Response:
    before = batches_api.get_batch(batch_id, viewer.require_tenant(), uow.session)
    batch = batches_api.retry_failed(batch_id, viewer.require_tenant(), uow)
    failed = before.counts.get(JobStatus.FAILED, 0)
    return _batch_page(request, viewer, batch, f"Queued {failed} failed job(s) again.")


@router.post("/batches/{batch_id}/cancel", response_class=HTMLResponse)
def batch_cancel(
    request: Request, batch_id: uuid.UUID, viewer: ViewerDep, uow: UnitOfWorkDep
) -> Response:
    batch = batches_api.cancel_batch(batch_id, viewer.require_tenant(), uow)
    return _batch_page(request, viewer, batch, "Cancelled the batch's unfinished jobs.")


# -- costs --------------------------------------------------------------------------------


def _usage_query(request: Request) -> dict[str, str]:
    q = request.query_params
    grain = q.get("grain") or "day"
    if grain not in ("day", "month"):
        raise ApiError(422, "invalid_grain", "costs are charted by day or by month")
    return {
        "grain": grain,
        "stack": (q.get("stack") or "target_lang").strip(),
        "from": q.get("from", ""),
        "to": q.get("to", ""),
    }


def _usage(
    request: Request, viewer: ViewerDep, session: SessionDep, context: ContextDep, fmt: str
) -> tuple[dict[str, str], UsageReport | Response]:
    query = _usage_query(request)
    first, last = _day(query["from"]), _day(query["to"], end=True)
    report = usage_api.usage(
        tenant=viewer.require_tenant(),
        session=session,
        context=context,
        # The report takes UTC days, `to` exclusive; the console's `to` is the last day shown.
        since=first.date() if first else None,
        until=last.date() + timedelta(days=1) if last else None,
        group_by=f"{query['grain']},{query['stack']}",
        format="csv" if fmt == "csv" else "json",
        price_table=None,
    )
    return query, report


@router.get("/costs", response_class=HTMLResponse)
def costs(
    request: Request, viewer: ViewerDep, session: SessionDep, context: ContextDep
) -> Response:
    query, report = _usage(request, viewer, session, context, "json")
    assert isinstance(report, UsageReport)  # asked for JSON
    chart = usage_chart(report, grain=query["grain"], stack=query["stack"])
    return templates.TemplateResponse(
        request,
        "costs.html",
        {
            "viewer": viewer,
            "query": query,
            "chart": chart,
            "chart_json": json.dumps(chart),
            "csv_query": request.url.query,
        },
    )


@router.get("/costs.csv")
def costs_csv(
    request: Request, viewer: ViewerDep, session: SessionDep, context: ContextDep
) -> Response:
    """The CSV behind the charts: /v1/usage's own, as a download."""
    query, response = _usage(request, viewer, session, context, "csv")
    assert isinstance(response, Response)  # asked for CSV
    response.headers["Content-Disposition"] = (
        f'attachment; filename="usage-by-{query["grain"]}.csv"'
    )
    return response


# -- the operator -------------------------------------------------------------------------


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    if not viewer.operator:
        # A tenant sees one tenant; the fleet view is not there for it.
        raise ApiError(404, "not_found", "page not found")
    rows = fleet.fleet(session)
    return templates.TemplateResponse(
        request,
        "fleet.html",
        {
            "viewer": viewer,
            "rows": rows,
            "days": fleet.COST_DAYS,
            "live": any(row.active for row in rows),
        },
    )
