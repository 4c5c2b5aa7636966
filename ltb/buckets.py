"""The buckets the service writes to: each must exist and take writes before a process
starts (`ltb api`, `ltb worker`) and while `/readyz` says ready.

A bucket that is missing or read-only is named in the error, with a stable code
(`output_bucket_missing`, `work_bucket_not_writable`, ...), so an operator sees which
setting to fix instead of jobs failing one by one at publish time.
"""

from __future__ import annotations

from ltb.errors import LtbError
from ltb.settings import Settings
from ltb.storage import ObjectRef, ObjectStore, StorageError

# A fixed key, rewritten by every check, so checks never accumulate objects. The leading
# dot keeps it apart from tenants' folders.
PROBE_KEY = ".ltb-write-check"


def probes(settings: Settings) -> dict[str, ObjectRef]:
    """Role → the object written to check it, for every bucket the service writes to. The
    work bucket is probed under the work prefix (a policy may allow only that); a bucket
    shared by both roles is checked once, as the output bucket."""
    output = ObjectRef(settings.output_bucket, PROBE_KEY)
    work = ObjectRef.parse(_folder(settings.work_prefix) + PROBE_KEY)
    return {"output": output} if work.bucket == output.bucket else {"output": output, "work": work}


def check_buckets(store: ObjectStore, settings: Settings) -> None:
    """Raises an LtbError naming the first configured bucket that is missing or refuses a write."""
    for role, probe in probes(settings).items():
        check_bucket(store, probe, role=role)


def check_bucket(store: ObjectStore, probe: ObjectRef, *, role: str) -> None:
    uri = f"s3://{probe.bucket}"
    setting = "LTB_OUTPUT_BUCKET" if role == "output" else "LTB_WORK_PREFIX"
    try:
        store.put_bytes(probe, b"", content_type="text/plain")
    except StorageError as exc:
        if exc.reason == "bucket_missing":
            raise LtbError(
                f"the {role} bucket {uri} does not exist; create it or change {setting}",
                code=f"{role}_bucket_missing",
            ) from exc
        if exc.reason == "forbidden":
            raise LtbError(
                f"the {role} bucket {uri} refuses writes with these credentials ({setting})",
                code=f"{role}_bucket_not_writable",
            ) from exc
        raise


def _folder(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"
