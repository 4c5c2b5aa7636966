"""Storage errors are classified once: throttling, timeouts and 5xx are transient; a
missing bucket, denied access, a bucket in another region or a refused request are
permanent, each with a stable code, so no step retries them forever."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltb.storage import LocalStore, ObjectRef, S3Store, StorageError, is_transient

from support.processes import free_port
from support.s3 import dummy_session, moto_server, s3_store
from support.s3_faults import faulty_s3


def _store(endpoint: str) -> S3Store:
    return S3Store(
        endpoint_url=endpoint,
        max_attempts=1,
        connect_timeout_s=1.0,
        read_timeout_s=2.0,
        session=dummy_session(),
    )


@pytest.mark.parametrize(
    ("status", "s3_code", "code", "transient"),
    [
        (500, "InternalError", "storage_error", True),
        (503, "SlowDown", "storage_error", True),
        (503, "ServiceUnavailable", "storage_error", True),
        (400, "InvalidRequest", "storage_rejected", False),
        (400, "AuthorizationHeaderMalformed", "storage_wrong_region", False),
        (301, "PermanentRedirect", "storage_wrong_region", False),
    ],
)
def test_each_s3_error_is_transient_or_permanent_with_a_stable_code(
    status: int, s3_code: str, code: str, transient: bool
) -> None:
    with faulty_s3(status, s3_code) as (endpoint, _fault):
        store = _store(endpoint)
        for call in (
            lambda: store.put_bytes(ObjectRef("media", "a.txt"), b"x"),
            lambda: store.get_bytes(ObjectRef("media", "a.txt"), max_bytes=10),
        ):
            with pytest.raises(StorageError) as caught:
                call()
            assert caught.value.code == code, caught.value.message
            assert is_transient(caught.value) is transient


def test_an_unreachable_endpoint_is_transient() -> None:
    store = _store(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(StorageError) as caught:
        store.head(ObjectRef("media", "a.mp4"))
    assert caught.value.code == "storage_error"
    assert is_transient(caught.value)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.mark.parametrize("kind", ["s3", "local"])
def test_writing_into_a_missing_bucket_is_a_permanent_bucket_missing(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = (
        s3_store(request.getfixturevalue("s3_endpoint"))
        if kind == "s3"
        else LocalStore(tmp_path / "objects")
    )
    with pytest.raises(StorageError) as caught:
        store.put_bytes(ObjectRef(f"absent-{uuid.uuid4().hex[:8]}", "x/y.txt"), b"data")
    assert caught.value.reason == "bucket_missing"
    assert caught.value.code == "source_not_found"  # the code readers of sources have always had
    assert not is_transient(caught.value)
