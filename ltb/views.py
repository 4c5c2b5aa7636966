"""How a job and a batch look from outside: the body of GET /v1/jobs/{id} and
GET /v1/batches/{id}, and of the webhooks about them.

Built through the models of ltb.schemas, for the API (which answers with them) and the
workers (which send them as webhook bodies), so the two can never describe a job
differently, and a key the models do not declare fails instead of leaking out.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ltb.db.models import Batch, Job, Tenant, UsageRecord
from ltb.fair_share import batch_eta_s, job_eta_s
from ltb.outputs import MANIFEST_FILE, OUTPUTS, revision_prefix
from ltb.retention import effective_days, expires_at, outputs_gone
from ltb.schemas import BatchView, JobView
from ltb.states import JOB_FINISHED, JobStatus
from ltb.storage import ObjectRef, ObjectStore
from ltb.usage import TOKEN_KINDS
from ltb.view_repository import (
    batch_failure_codes,
    batch_failures,
    batch_job_counts,
    batch_usage_sums,
    job_revisions,
    usage_record_sums,
)

# Each output kind's file name, from the output registry.
OUTPUT_FILES: dict[str, str] = {kind.value: spec.file_name for kind, spec in OUTPUTS.items()}
# Plain strings: these are the keys of the batch view's counts.
JOB_STATUSES: tuple[str, ...] = tuple(status.value for status in JobStatus)
FINISHED = JOB_FINISHED
# A batch view lists at most this many failures; `failure_codes` counts them all.
FAILURES_LISTED = 100


def job_view(
    session: Session,
    job: Job,
    *,
    store: ObjectStore,
    presign_expiry_s: int,
    just_created: bool = False,
) -> dict[str, Any]:
    """The job's webhook body: exactly the JSON form of what GET /v1/jobs/{id} answers."""
    return job_model(
        session, job, store=store, presign_expiry_s=presign_expiry_s, just_created=just_created
    ).model_dump(mode="json")


def batch_view(session: Session, batch: Batch) -> dict[str, Any]:
    """The batch's webhook body: exactly the JSON form of what GET /v1/batches/{id} answers."""
    return batch_model(session, batch).model_dump(mode="json")


def job_model(
    session: Session,
    job: Job,
    *,
    store: ObjectStore,
    presign_expiry_s: int,
    just_created: bool = False,
) -> JobView:
    """The job as GET /v1/jobs/{id} shows it. A job `just_created` has no usage to sum."""
    usage = dict(_NO_USAGE) if just_created else _usage(session, [UsageRecord.job_id == job.id])
    # One read per tenant per session: the identity map keeps it for a page of jobs.
    tenant = session.get(Tenant, job.tenant_id)
    tenant_days = tenant.retention_days if tenant is not None else None
    percent = (
        100.0
        if job.status == JobStatus.SUCCEEDED
        else (100.0 * job.chunks_done / job.chunks_total if job.chunks_total else 0.0)
    )
    return JobView.model_validate(
        {
            "id": job.id,
            "status": job.status,
            "stage": job.stage,
            "progress": {
                "chunks_done": job.chunks_done,
                "chunks_total": job.chunks_total,
                "percent": round(percent, 1),
            },
            "estimate": {
                "input_tokens": job.est_input_tokens,
                "output_tokens": job.est_output_tokens,
                "cost": float(job.est_cost) if job.est_cost is not None else None,
            },
            "usage": usage | {"currency": job.currency, "price_table": job.price_table},
            "outputs": _outputs(job, store=store, presign_expiry_s=presign_expiry_s),
            "error": {"code": job.error_code, "message": job.error_message or ""}
            if job.error_code
            else None,
            "labels": job.labels,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "source_uri": job.source_uri,
            "target_lang": job.target_lang,
            "source_lang": job.source_lang,
            "requested_outputs": job.outputs,
            "visual_context": "on" if job.visual_context else "off",
            "batch_id": job.batch_id,
            "callback_url": job.callback_url,
            "warnings": job.warnings,
            "provider": job.provider,
            "retention_days": effective_days(job.retention_days, tenant_days),
            "expires_at": expires_at(job, tenant_days),
            "deleted_at": job.deleted_at,
            "outputs_expired_at": job.outputs_expired_at,
            "output_revision": job.output_revision,
            "revisions": _revisions(session, job),
            "priority": job.priority,
            "eta_s": job_eta_s(session, job),
        }
    )


def batch_model(session: Session, batch: Batch) -> BatchView:
    """The batch as GET /v1/batches/{id} shows it: counts, progress, usage, cost, failures."""
    counts = dict.fromkeys(JOB_STATUSES, 0)
    by_target: dict[str, dict[str, int]] = {}
    chunks_done = chunks_total = 0
    rows = batch_job_counts(session, batch.id)
    for target, status, count, done, total in rows:
        counts[status] = counts.get(status, 0) + int(count)
        by_target.setdefault(target, dict.fromkeys(JOB_STATUSES, 0))[status] = int(count)
        chunks_done += int(done)
        chunks_total += int(total)
    finished = sum(counts[s] for s in FINISHED)
    failures = batch_failures(session, batch.id, limit=FAILURES_LISTED)
    failure_codes = {str(code): int(n) for code, n in batch_failure_codes(session, batch.id)}
    return BatchView.model_validate(
        {
            "id": batch.id,
            "status": batch.status,
            "created_at": batch.created_at,
            "completed_at": batch.completed_at,
            "source_prefix": batch.source_prefix,
            "target_langs": batch.target_langs,
            "labels": batch.labels,
            "callback_url": batch.callback_url,
            "jobs_total": batch.jobs_total,
            "counts": counts,
            "by_target": by_target,
            "progress": {
                "jobs_finished": finished,
                "jobs_total": batch.jobs_total,
                "percent": round(100.0 * finished / batch.jobs_total, 1)
                if batch.jobs_total
                else 100.0,
                "chunks_done": chunks_done,
                "chunks_total": chunks_total,
            },
            "usage": _batch_usage(session, batch),
            "failures": [
                {
                    "job_id": job_id,
                    "source_uri": uri,
                    "target_lang": target,
                    "code": code,
                    "message": message or "",
                }
                for job_id, uri, target, code, message in failures
            ],
            "failure_codes": failure_codes,
            "priority": batch.priority,
            "eta_s": batch_eta_s(session, batch),
        }
    )


_NO_USAGE: dict[str, Any] = {f"{kind}_tokens": 0 for kind in TOKEN_KINDS} | {
    "total_tokens": 0,
    "requests": 0,
    "cost": 0.0,
}


def _usage(session: Session, where: Iterable[Any]) -> dict[str, Any]:
    """Billed totals: always sums of the usage records, never a stored copy."""
    row = usage_record_sums(session, where)
    count = len(TOKEN_KINDS)
    kinds = {
        f"{kind}_tokens": int(value) for kind, value in zip(TOKEN_KINDS, row[:count], strict=True)
    }
    return kinds | {
        "total_tokens": sum(kinds.values()),
        "requests": int(row[count]),
        "cost": float(Decimal(row[count + 1] or 0)),
    }


def _batch_usage(session: Session, batch: Batch) -> dict[str, Any]:
    """A batch's totals from the daily rollup, so a 10,000-job batch costs a few rows."""
    row = batch_usage_sums(session, batch.tenant_id, batch.id)
    count = len(TOKEN_KINDS)
    kinds = {
        f"{kind}_tokens": int(value) for kind, value in zip(TOKEN_KINDS, row[:count], strict=True)
    }
    return kinds | {
        "total_tokens": sum(kinds.values()),
        "requests": int(row[count]),
        "cost": float(Decimal(row[count + 1] or 0)),
        "currency": row[count + 2] or None,
    }


def _revisions(session: Session, job: Job) -> list[dict[str, Any]]:
    return [
        {
            "revision": row.revision,
            "reason": row.reason,
            "status": row.status,
            "chunk_index": row.chunk_idx,
            "created_at": row.created_at,
            "finished_at": row.finished_at,
            "error": {"code": row.error_code, "message": row.error_message or ""}
            if row.error_code
            else None,
        }
        for row in job_revisions(session, job.id)
    ]


def _outputs(job: Job, *, store: ObjectStore, presign_expiry_s: int) -> list[dict[str, Any]]:
    if job.status != JobStatus.SUCCEEDED or outputs_gone(job):
        return []
    files = [(kind, name) for kind, name in OUTPUT_FILES.items() if kind in job.outputs]
    files.append(("manifest", MANIFEST_FILE))
    prefix = revision_prefix(job.output_prefix, job.output_revision)
    out = []
    for kind, name in files:
        ref = ObjectRef.parse(prefix + name)
        out.append(
            {
                "kind": kind,
                "uri": ref.uri,
                "url": store.presign_get(ref, expires_s=presign_expiry_s),
            }
        )
    return out
