"""Every bucket the service writes to is checked for existence and writes, and a
failing one is named with a code that says which setting to fix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ltb.buckets import check_buckets
from ltb.errors import LtbError
from ltb.settings import Settings

from support.s3 import dummy_session, moto_server, s3_store


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def _settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_present_buckets_pass_and_a_missing_one_is_named(s3_endpoint: str) -> None:
    outputs, work = f"out-{uuid.uuid4().hex[:8]}", f"work-{uuid.uuid4().hex[:8]}"
    store = s3_store(s3_endpoint, outputs)
    check_buckets(store, _settings(output_bucket=outputs))  # the work prefix derives from it

    separate = _settings(output_bucket=outputs, work_prefix=f"s3://{work}/scratch/")
    with pytest.raises(LtbError) as caught:
        check_buckets(store, separate)
    assert caught.value.code == "work_bucket_missing"
    assert f"s3://{work}" in caught.value.message

    store.ensure_bucket(work)
    check_buckets(store, separate)
    with pytest.raises(LtbError) as caught:
        check_buckets(store, _settings(output_bucket=f"gone-{uuid.uuid4().hex[:8]}"))
    assert caught.value.code == "output_bucket_missing"


def test_a_bucket_that_refuses_writes_is_named() -> None:
    # With no free actions, moto checks every request's key against its (empty) IAM.
    with moto_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        store = s3_store(endpoint, session=dummy_session("AKIAUNKNOWN", "secret"))
        with pytest.raises(LtbError) as caught:
            check_buckets(store, _settings(output_bucket="ltb-outputs"))
    assert caught.value.code == "output_bucket_not_writable"
    assert "s3://ltb-outputs" in caught.value.message
