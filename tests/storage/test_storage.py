"""Object storage behaves the same on S3 (a real moto server) and on the local folder."""

from __future__ import annotations

import hashlib
import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ltb.errors import LtbError
from ltb.settings import Settings
from ltb.storage import (
    LocalStore,
    ObjectRef,
    ObjectStore,
    S3Store,
    object_store,
    stream_to_file,
)

from support.processes import free_port
from support.s3 import AWS_TEST_ENV, dummy_session, moto_server, s3_store


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["s3", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "s3":
        return s3_store(request.getfixturevalue("s3_endpoint"))
    return LocalStore(tmp_path / "objects")


@pytest.fixture
def bucket(store: ObjectStore) -> str:
    """A fresh bucket per test, so tests sharing the moto server never see each other."""
    name = f"ltb-test-{uuid.uuid4().hex[:12]}"
    store.ensure_bucket(name)
    return name


def payload(size: int) -> bytes:
    return os.urandom(size)


# --- ObjectRef ----------------------------------------------------------------------------


def test_parse_reads_bucket_and_key_and_joins_as_a_folder() -> None:
    ref = ObjectRef.parse("s3://ltb-outputs/_work/job 1/")
    assert (ref.bucket, ref.key) == ("ltb-outputs", "_work/job 1/")
    assert ref.join("chunk-0.json").uri == "s3://ltb-outputs/_work/job 1/chunk-0.json"
    assert ObjectRef.parse("s3://b-1/jobs/7").join("out/dub.wav").key == "jobs/7/out/dub.wav"
    assert str(ObjectRef.parse("s3://my.bucket/a/b.mp4")) == "s3://my.bucket/a/b.mp4"


@pytest.mark.parametrize(
    "uri",
    [
        "http://bucket/key",
        "S3://bucket/key",
        "s3:/bucket/key",
        "/local/file.mp4",
        "s3://",
        "s3://bucket",
        "s3://bucket/",
        "s3://bucket//key",
        "s3://bucket/a/../../etc/passwd",
        "s3://bucket/../key",
        "s3://bucket/a/./b",
        "s3://bucket/a\x00b",
        "s3://Bad_Bucket/key",
        "s3://../key",
        "s3://ab/key",
    ],
)
def test_parse_refuses_anything_but_a_plain_s3_uri(uri: str) -> None:
    with pytest.raises(LtbError) as caught:
        ObjectRef.parse(uri)
    assert caught.value.code == "invalid_source_uri"


@pytest.mark.parametrize("name", ["", "../x", "a/../../x", "/abs", "a//b"])
def test_join_refuses_names_that_escape_or_alias(name: str) -> None:
    with pytest.raises(LtbError) as caught:
        ObjectRef.parse("s3://bucket/jobs/").join(name)
    assert caught.value.code == "invalid_source_uri"


# --- behaviour shared by both stores ---------------------------------------------------------


def test_put_bytes_round_trips_with_size_etag_and_content_type(
    store: ObjectStore, bucket: str
) -> None:
    ref = ObjectRef(bucket, "jobs/1/manifest.json")
    assert not store.exists(ref)

    store.put_bytes(ref, b'{"ok": true}', content_type="application/json")

    info = store.head(ref)
    assert store.exists(ref)
    assert store.get_bytes(ref, max_bytes=100) == b'{"ok": true}'
    assert (info.size, info.content_type) == (12, "application/json")
    assert info.etag and '"' not in info.etag


def test_rewriting_an_object_changes_its_etag(store: ObjectStore, bucket: str) -> None:
    ref = ObjectRef(bucket, "a.txt")
    store.put_bytes(ref, b"first")
    first = store.head(ref).etag
    store.put_bytes(ref, b"second!")
    assert store.head(ref).etag != first
    assert store.get_bytes(ref, max_bytes=7) == b"second!"


def test_download_streams_to_dest_and_returns_the_sha256(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    body = payload(3 * 1024 * 1024 + 17)  # several 1 MiB chunks and a ragged tail
    source = tmp_path / "source.bin"
    source.write_bytes(body)
    ref = ObjectRef(bucket, "sources/talk.mp4")
    store.upload_file(source, ref, content_type="video/mp4")
    dest_dir = tmp_path / "scratch"
    dest = dest_dir / "talk.mp4"
    dest_dir.mkdir()
    dest.write_bytes(b"stale copy")

    digest = store.download(ref, dest, max_bytes=len(body))

    assert digest == hashlib.sha256(body).hexdigest()
    assert dest.read_bytes() == body
    assert [p.name for p in dest_dir.iterdir()] == ["talk.mp4"]  # no temp file left behind
    assert store.head(ref).size == len(body)


def test_download_refuses_an_object_over_max_bytes_and_writes_nothing(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    ref = ObjectRef(bucket, "big.wav")
    store.put_bytes(ref, payload(1000))

    with pytest.raises(LtbError) as caught:
        store.download(ref, tmp_path / "big.wav", max_bytes=999)

    assert caught.value.code == "too_large"
    assert list(tmp_path.glob("*big.wav*")) == []


def test_get_bytes_refuses_an_object_over_max_bytes(store: ObjectStore, bucket: str) -> None:
    ref = ObjectRef(bucket, "chunk.json")
    store.put_bytes(ref, b"x" * 101)

    with pytest.raises(LtbError) as caught:
        store.get_bytes(ref, max_bytes=100)

    assert caught.value.code == "too_large"
    assert store.get_bytes(ref, max_bytes=101) == b"x" * 101


def test_missing_objects_and_buckets_are_source_not_found(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    missing = ObjectRef(bucket, "nope/never.mp4")
    no_bucket = ObjectRef(f"ltb-absent-{uuid.uuid4().hex[:8]}", "a.mp4")
    calls: list[Callable[[], object]] = [
        lambda: store.head(missing),
        lambda: store.download(missing, tmp_path / "x", max_bytes=10),
        lambda: store.get_bytes(missing, max_bytes=10),
        lambda: store.head(no_bucket),
        lambda: store.put_bytes(no_bucket, b"data"),
    ]
    for call in calls:
        with pytest.raises(LtbError) as caught:
            call()
        assert caught.value.code == "source_not_found"
    assert not store.exists(missing)
    assert list(tmp_path.glob("x*")) == []


def test_listing_and_deleting_1500_keys_crosses_page_boundaries(
    store: ObjectStore, bucket: str
) -> None:
    folder = ObjectRef(bucket, "many/")
    names = [f"k{i:04d}.txt" for i in range(1500)]
    with ThreadPoolExecutor(8) as pool:  # moto answers one request at a time per thread
        list(pool.map(lambda name: store.put_bytes(folder.join(name), name.encode()), names))
    sibling = ObjectRef(bucket, "many-more/k.txt")
    store.put_bytes(sibling, b"keep")

    listed = list(store.list(ObjectRef(bucket, "many")))

    assert [item.ref.key for item in listed] == [f"many/{name}" for name in names]
    assert {item.size for item in listed} == {9}
    assert store.delete_prefix(folder) == 1500
    assert list(store.list(folder)) == []
    assert store.exists(sibling)


def test_delete_prefix_removes_a_folder_and_nothing_beside_it(
    store: ObjectStore, bucket: str
) -> None:
    for key in ["jobs/1/a.srt", "jobs/1/chunks/0.json", "jobs/10/a.srt", "jobs/1.txt"]:
        store.put_bytes(ObjectRef(bucket, key), b"x")

    assert store.delete_prefix(ObjectRef(bucket, "jobs/1")) == 2

    remaining = [item.ref.key for item in store.list(ObjectRef(bucket, "jobs/"))]
    assert remaining == ["jobs/1.txt", "jobs/10/a.srt"]
    assert store.delete_prefix(ObjectRef(bucket, "jobs/1/")) == 0
    with pytest.raises(LtbError) as caught:
        store.delete_prefix(ObjectRef(bucket, ""))  # never the whole bucket
    assert caught.value.code == "invalid_source_uri"
    assert len(list(store.list(ObjectRef(bucket, "jobs")))) == 2


def test_delete_objects_removes_exactly_the_objects_named(store: ObjectStore, bucket: str) -> None:
    keys = ["out/manifest.json", "out/manifest.json.bak", "out/rev-1/manifest.json"]
    for key in keys:
        store.put_bytes(ObjectRef(bucket, key), b"x")
    named = [ObjectRef(bucket, "out/manifest.json"), ObjectRef(bucket, "out/rev-1/manifest.json")]

    assert store.delete_objects([*named, ObjectRef(bucket, "out/never-written.txt")]) == 3

    assert [item.ref.key for item in store.list(ObjectRef(bucket, "out/"))] == [
        "out/manifest.json.bak"
    ]
    store.delete_objects(named)  # deleting what is gone is no error


def test_ensure_bucket_is_idempotent(store: ObjectStore, bucket: str) -> None:
    ref = ObjectRef(bucket, "kept.txt")
    store.put_bytes(ref, b"still here")

    store.ensure_bucket(bucket)
    store.ensure_bucket(bucket)

    assert store.get_bytes(ref, max_bytes=100) == b"still here"


def test_presigned_url_fetches_the_object(store: ObjectStore, bucket: str) -> None:
    ref = ObjectRef(bucket, "chunks/0 audio.wav")
    store.put_bytes(ref, b"RIFF....WAVE")

    url = store.presign_get(ref, expires_s=600)

    if url.startswith("http"):
        response = httpx.get(url)
        assert response.status_code == 200
        assert response.content == b"RIFF....WAVE"
    else:
        assert url.startswith("file://")
        with urllib.request.urlopen(url) as response:  # the embedded profile's only option
            assert response.read() == b"RIFF....WAVE"


def test_check_passes_on_a_reachable_store(store: ObjectStore, bucket: str) -> None:
    store.check()


# --- the streaming cap ---------------------------------------------------------------------


def test_stream_to_file_stops_reading_as_soon_as_the_cap_is_passed(tmp_path: Path) -> None:
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        for index in range(100):
            pulled.append(index)
            yield b"x" * 1000

    with pytest.raises(LtbError) as caught:
        stream_to_file(chunks(), tmp_path / "out.bin", max_bytes=2500, source="s3://b/k")

    assert caught.value.code == "too_large"
    assert pulled == [0, 1, 2]  # the third chunk passed 2,500 bytes; nothing more was read
    assert list(tmp_path.iterdir()) == []


# --- S3 only ------------------------------------------------------------------------------------


def test_large_upload_goes_multipart_and_downloads_intact(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = f"ltb-test-{uuid.uuid4().hex[:12]}"
    store = s3_store(s3_endpoint, bucket)
    body = payload(20 * 1024 * 1024)
    source = tmp_path / "dub.wav"
    source.write_bytes(body)
    ref = ObjectRef(bucket, "out/dub.wav")

    store.upload_file(source, ref, content_type="audio/wav")

    info = store.head(ref)
    assert info.size == len(body)
    assert info.etag and info.etag.endswith("-2")  # two 16 MiB-bounded parts
    assert info.content_type == "audio/wav"
    digest = store.download(ref, tmp_path / "back.wav", max_bytes=len(body))
    assert digest == hashlib.sha256(body).hexdigest()


@pytest.mark.timeout(30)
def test_check_fails_cleanly_and_quickly_when_the_endpoint_is_down() -> None:
    secret = "never-echo-this-secret"
    store = S3Store(
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        probe_bucket="ltb-outputs",
        max_attempts=1,
        connect_timeout_s=1.0,
        read_timeout_s=1.0,
        session=dummy_session(secret_key=secret),
    )

    with pytest.raises(LtbError) as caught:
        store.check()

    assert caught.value.code == "storage_error"
    assert "127.0.0.1" in caught.value.message
    assert secret not in caught.value.message


def test_unknown_credentials_are_source_forbidden_without_echoing_them() -> None:
    secret = "never-echo-this-secret"
    # With no free actions, moto checks every request's key against its (empty) IAM.
    with moto_server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        store = s3_store(endpoint, session=dummy_session("AKIAUNKNOWN", secret))
        with pytest.raises(LtbError) as caught:
            store.head(ObjectRef("ltb-outputs", "source.mp4"))

    assert caught.value.code == "source_forbidden"
    assert secret not in caught.value.message


# --- LocalStore only ----------------------------------------------------------------------


def test_local_store_refuses_keys_and_links_that_leave_the_bucket(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.ensure_bucket("media")
    outside = tmp_path / "secret.txt"
    outside.write_text("private")
    (tmp_path / "objects" / "media" / "link.txt").symlink_to(outside)
    escapes = [
        ObjectRef("media", "../secret.txt"),
        ObjectRef("media", "a/../../../secret.txt"),
        ObjectRef("..", "secret.txt"),
        ObjectRef("media", "link.txt"),
    ]
    for ref in escapes:
        with pytest.raises(LtbError) as caught:
            store.get_bytes(ref, max_bytes=100)
        assert caught.value.code == "invalid_source_uri"
    with pytest.raises(LtbError):
        store.put_bytes(ObjectRef("media", "../../planted.txt"), b"x")
    assert not (tmp_path / "planted.txt").exists()


def test_local_store_maps_uris_to_files_under_its_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "objects")
    store.ensure_bucket("media")
    (tmp_path / "objects" / "media" / "in").mkdir()
    (tmp_path / "objects" / "media" / "in" / "talk.wav").write_bytes(b"dropped by hand")

    assert store.get_bytes(ObjectRef.parse("s3://media/in/talk.wav"), max_bytes=100) == (
        b"dropped by hand"
    )
    store.put_bytes(ObjectRef.parse("s3://media/out/a.srt"), b"1\n")
    assert (tmp_path / "objects" / "media" / "out" / "a.srt").read_bytes() == b"1\n"


# --- choosing a store ---------------------------------------------------------------------


def test_object_store_is_local_in_the_embedded_profile(tmp_path: Path) -> None:
    store = object_store(Settings(profile="embedded", storage_root=tmp_path / "objects"))
    assert isinstance(store, LocalStore)


def test_object_store_is_s3_in_production_or_with_an_endpoint(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)  # the standard AWS chain is how S3Store finds keys
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert isinstance(object_store(Settings(profile="production")), S3Store)
    bucket = f"ltb-test-{uuid.uuid4().hex[:12]}"
    store = object_store(
        Settings(profile="embedded", s3_endpoint_url=s3_endpoint, output_bucket=bucket)
    )
    assert isinstance(store, S3Store)

    store.ensure_bucket(bucket)
    store.check()
    store.put_bytes(ObjectRef(bucket, "a.txt"), b"via the env chain")
    assert store.get_bytes(ObjectRef(bucket, "a.txt"), max_bytes=100) == b"via the env chain"


def test_presigned_urls_can_name_a_public_endpoint(tmp_path) -> None:
    """Inside Docker the service reaches MinIO as minio:9000; clients get the public name."""
    from support.s3 import dummy_session

    store = S3Store(
        endpoint_url="http://minio:9000",
        public_endpoint_url="https://files.example.com",
        session=dummy_session(),
    )
    url = store.presign_get(
        ObjectRef.parse("s3://ltb-outputs/acme/job/subtitles.srt"), expires_s=600
    )
    assert url.startswith("https://files.example.com/ltb-outputs/acme/job/subtitles.srt?")


def test_download_pinned_to_an_etag_refuses_a_replaced_object_as_source_changed(
    store: ObjectStore, bucket: str, tmp_path: Path
) -> None:
    ref = ObjectRef(bucket, "media/talk.mp3")
    store.put_bytes(ref, b"planned bytes")
    planned = store.head(ref).etag
    assert planned
    assert store.download(ref, tmp_path / "same", max_bytes=100, if_match=planned) == (
        hashlib.sha256(b"planned bytes").hexdigest()
    )
    store.put_bytes(ref, b"other bytes, longer")
    with pytest.raises(LtbError) as caught:
        store.download(ref, tmp_path / "other", max_bytes=100, if_match=planned)
    assert caught.value.code == "source_changed"
    assert not (tmp_path / "other").exists()
