"""Object storage: S3-compatible services (AWS, MinIO, Alibaba OSS) or a local folder.

Both stores speak `s3://bucket/key`. `S3Store` takes credentials from the standard AWS
chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, instance roles, ...);
the service never reads or stores them itself. `LocalStore` is the embedded profile's
stand-in: `s3://bucket/key` is the file `<root>/bucket/key`.

A prefix is a folder: `list` and `delete_prefix` treat `s3://b/jobs/1` as `s3://b/jobs/1/`,
so they never reach into the sibling `jobs/10/`.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
)

from ltb.errors import LtbError
from ltb.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import DeleteTypeDef, ObjectIdentifierTypeDef

CHUNK_BYTES = 1024 * 1024
# SigV4 presigned URLs cannot outlive seven days.
MAX_PRESIGN_S = 7 * 24 * 3600
# 16 MiB parts keep an 8 GiB source far under S3's 10,000-part limit with few requests.
TRANSFER = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)
# The rules AWS, MinIO and OSS share; they also keep a bucket a single, dot-free-leading folder name.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _invalid(uri: str, why: str) -> LtbError:
    return LtbError(
        f"{uri[:300]!r} is not a usable s3://bucket/key URI: {why}", code="invalid_source_uri"
    )


def _check_bucket(bucket: str, uri: str) -> None:
    if not _BUCKET.fullmatch(bucket):
        raise _invalid(
            uri, "the bucket name must be 3-63 lowercase letters, digits, dots or hyphens"
        )


def _check_key(key: str, uri: str) -> None:
    if not key:
        raise _invalid(uri, "the object key is empty")
    if len(key.encode()) > 1024 or _CONTROL.search(key):
        raise _invalid(uri, "the key is over 1024 bytes or holds control characters")
    # Empty, "." and ".." segments would alias or escape once the key is a local path.
    segments = key.split("/")
    if key.endswith("/"):
        segments.pop()  # a trailing slash marks a folder
    if any(s in ("", ".", "..") for s in segments):
        raise _invalid(uri, "the key has an empty, '.' or '..' path segment")


def _folder(key: str) -> str:
    return key if key.endswith("/") else key + "/"


@dataclass(frozen=True)
class ObjectRef:
    """One object (or, for `list`/`delete_prefix`, one folder) in a bucket."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> ObjectRef:
        """Reads `s3://bucket/key`, refusing anything else."""
        scheme, sep, rest = uri.partition("://")
        if scheme != "s3" or not sep:
            raise _invalid(uri, "only s3:// URIs are accepted")
        bucket, _, key = rest.partition("/")
        _check_bucket(bucket, uri)
        _check_key(key, uri)
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def join(self, name: str) -> ObjectRef:
        """The object `name` inside this ref taken as a folder."""
        key = _folder(self.key) + name
        if not name:
            raise _invalid(f"s3://{self.bucket}/{key}", "the name to join is empty")
        _check_key(key, f"s3://{self.bucket}/{key}")
        return ObjectRef(self.bucket, key)

    def __str__(self) -> str:
        return self.uri


@dataclass(frozen=True)
class ObjectInfo:
    """What `head` tells. ETags are bare (no quotes); see each store for what they mean."""

    size: int
    etag: str | None
    content_type: str | None


@dataclass(frozen=True)
class ListedObject:
    ref: ObjectRef
    size: int
    etag: str | None


class ObjectStore(Protocol):
    def head(self, ref: ObjectRef) -> ObjectInfo: ...
    def download(
        self, ref: ObjectRef, dest: Path, *, max_bytes: int, if_match: str | None = None
    ) -> str: ...
    def upload_file(
        self, path: Path, ref: ObjectRef, *, content_type: str | None = None
    ) -> None: ...
    def put_bytes(
        self, ref: ObjectRef, data: bytes, *, content_type: str | None = None
    ) -> None: ...
    def get_bytes(self, ref: ObjectRef, *, max_bytes: int) -> bytes: ...
    def exists(self, ref: ObjectRef) -> bool: ...
    def list(self, prefix: ObjectRef) -> Iterator[ListedObject]: ...
    def presign_get(self, ref: ObjectRef, *, expires_s: int) -> str: ...
    @property
    def presigns_http(self) -> bool:
        """Whether presigned URLs are http(s) that a remote provider could fetch."""
        ...

    def delete_prefix(self, prefix: ObjectRef) -> int: ...
    def delete_objects(self, refs: Sequence[ObjectRef]) -> int: ...
    def ensure_bucket(self, name: str) -> None: ...
    def check(self) -> None: ...


def too_large(uri: str, max_bytes: int) -> LtbError:
    return LtbError(f"{uri} is larger than the {max_bytes}-byte limit", code="too_large")


class StorageError(LtbError):
    """A storage failure, classified once here so every step treats it alike.

    `transient` failures (throttling, 5xx, timeouts, a connection that broke) may succeed
    if tried again later; permanent ones (a missing bucket or object, denied access, a
    bucket in another region, a request the service refuses, missing credentials) never
    will, so retrying them only delays the job's failure. `reason` is the finer cause
    (`bucket_missing`, `not_found`, `changed`, `forbidden`, `wrong_region`, `rejected`,
    `credentials`, `unavailable`), for callers that name the failure in their own terms.
    """

    def __init__(self, message: str, *, code: str, reason: str, transient: bool) -> None:
        super().__init__(message, code=code)
        self.reason = reason
        self.transient = transient


# The codes of transient storage failures; every other storage code is permanent.
TRANSIENT_CODES = frozenset({"storage_error"})


def is_transient(exc: LtbError) -> bool:
    """Whether `exc` is worth trying again later (a transient storage failure)."""
    if isinstance(exc, StorageError):
        return exc.transient
    return exc.code in TRANSIENT_CODES


def not_found(uri: str, *, bucket_missing: bool = False) -> StorageError:
    return StorageError(
        f"{uri} does not exist",
        code="source_not_found",
        reason="bucket_missing" if bucket_missing else "not_found",
        transient=False,
    )


def unavailable(message: str) -> StorageError:
    return StorageError(message, code="storage_error", reason="unavailable", transient=True)


def changed(uri: str) -> StorageError:
    return StorageError(
        f"{uri} was replaced after the job was planned; submit the job again to translate the new file",
        code="source_changed",
        reason="changed",
        transient=False,
    )


def stream_to_file(
    chunks: Iterable[bytes],
    dest: Path,
    *,
    max_bytes: int,
    source: str,
    tmp_dir: Path | None = None,
    durable: bool = False,
) -> str:
    """Writes `chunks` to `dest` through a temp file and a rename; returns their SHA-256.

    Stops with `too_large` as soon as more than `max_bytes` arrive, so an object that grew
    after its size was checked is neither read to the end nor left half-written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=tmp_dir or dest.parent, prefix=f".{dest.name}.", suffix=".part"
    )
    digest, received = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                received += len(chunk)
                if received > max_bytes:
                    raise too_large(source, max_bytes)
                digest.update(chunk)
                out.write(chunk)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    return iter(lambda: stream.read(CHUNK_BYTES), b"")


def _check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_PRESIGN_S:
        raise ValueError(f"expires_s must be within 1..{MAX_PRESIGN_S}, got {expires_s}")


def _add_content_md5(params: dict[str, Any], **_: Any) -> None:
    """OSS and older MinIO demand Content-MD5 on DeleteObjects; botocore >= 1.36 sends a CRC only."""
    body = params.get("body")
    if isinstance(body, bytes):
        md5 = hashlib.md5(body, usedforsecurity=False).digest()
        params["headers"]["Content-MD5"] = base64.b64encode(md5).decode()


# S3 error codes that a later attempt may get past, whatever their HTTP status.
_TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "PriorRequestNotComplete",
        "OperationAborted",
    }
)
_WRONG_REGION_S3_CODES = frozenset(
    {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}
)


def classify_client_error(code: str, status: int | None, *, action: str, uri: str) -> StorageError:
    """One S3 error response as a StorageError: transient only for throttling, timeouts
    and 5xx; a 4xx or a redirect (the bucket lives in another region) is permanent."""
    if code == "NoSuchBucket":
        return not_found(uri, bucket_missing=True)
    if status == 404 or code in {"404", "NoSuchKey", "NotFound"}:
        return not_found(uri)
    if status == 412 or code == "PreconditionFailed":  # only If-Match is ever sent
        return changed(uri)
    if status == 403 or code in {"403", "AccessDenied", "Forbidden"}:
        return StorageError(
            f"access to {uri} is denied ({code}); check the credentials and the bucket policy",
            code="source_forbidden",
            reason="forbidden",
            transient=False,
        )
    if code in _TRANSIENT_S3_CODES or status == 429 or (status is not None and status >= 500):
        return unavailable(f"could not {action} {uri}: {code or 'error'} (HTTP {status})")
    if code in _WRONG_REGION_S3_CODES or status in (301, 307):
        return StorageError(
            f"could not {action} {uri}: the bucket is in another region than LTB_S3_REGION "
            f"or at another endpoint ({code or 'redirect'}, HTTP {status})",
            code="storage_wrong_region",
            reason="wrong_region",
            transient=False,
        )
    return StorageError(
        f"could not {action} {uri}: storage refused the request ({code or 'error'}, HTTP {status})",
        code="storage_rejected",
        reason="rejected",
        transient=False,
    )


class S3Store:
    """Any S3-compatible service through boto3. `endpoint_url=None` means AWS itself."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        probe_bucket: str | None = None,
        addressing_style: Literal["auto", "path", "virtual"] | None = None,
        max_attempts: int = 5,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        session: boto3.session.Session | None = None,
        public_endpoint_url: str | None = None,
    ) -> None:
        config = Config(
            region_name=region,
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            # MinIO and moto serve buckets as paths (no wildcard DNS); OSS needs "virtual".
            s3={"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
            # boto3 >= 1.36 adds CRC headers by default, which several S3-compatible services
            # reject; send checksums only where the API requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        boto = session or boto3.session.Session()
        self._client: S3Client = boto.client("s3", endpoint_url=endpoint_url or None, config=config)
        # Presigned URLs name the host they were signed for. Inside Docker the service reaches
        # MinIO as http://minio:9000, which clients outside cannot; sign for the public name.
        self._signer: S3Client = (
            boto.client("s3", endpoint_url=public_endpoint_url, config=config)
            if public_endpoint_url
            else self._client
        )
        self._client.meta.events.register("before-call.s3.DeleteObjects", _add_content_md5)
        self._region = region
        self._probe_bucket = probe_bucket
        # For messages: the host only, so userinfo in a misconfigured URL is never echoed.
        self._where = (urlsplit(endpoint_url).hostname if endpoint_url else None) or "AWS S3"

    @contextmanager
    def _mapped(self, action: str, uri: str) -> Iterator[None]:
        """Turns botocore failures into classified StorageErrors whose messages never
        carry credentials."""
        try:
            yield
        except S3UploadFailedError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, ClientError):
                raise self._client_error(cause, action, uri) from exc
            raise unavailable(f"could not {action} {uri}: upload failed") from exc
        except ClientError as exc:
            raise self._client_error(exc, action, uri) from exc
        except NoCredentialsError as exc:
            raise StorageError(
                "no storage credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or another AWS credential source)",
                code="storage_credentials_missing",
                reason="credentials",
                transient=False,
            ) from exc
        except ParamValidationError as exc:
            raise StorageError(
                f"could not {action} {uri}: the request is invalid ({type(exc).__name__})",
                code="storage_rejected",
                reason="rejected",
                transient=False,
            ) from exc
        except BotoCoreError as exc:
            # Connection failures, timeouts and broken streams: the service may answer later.
            raise unavailable(
                f"could not {action} {uri} at {self._where}: {type(exc).__name__}"
            ) from exc

    def _client_error(self, exc: ClientError, action: str, uri: str) -> StorageError:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return classify_client_error(code, status, action=action, uri=uri)

    def head(self, ref: ObjectRef) -> ObjectInfo:
        with self._mapped("read", ref.uri):
            meta = self._client.head_object(Bucket=ref.bucket, Key=ref.key)
        return ObjectInfo(meta["ContentLength"], _bare(meta.get("ETag")), meta.get("ContentType"))

    def download(
        self, ref: ObjectRef, dest: Path, *, max_bytes: int, if_match: str | None = None
    ) -> str:
        """Streams the object to `dest`; with `if_match`, only if its ETag is still that
        (`source_changed` otherwise), so the bytes are those of the object seen before."""
        if self.head(ref).size > max_bytes:
            raise too_large(ref.uri, max_bytes)
        with self._mapped("download", ref.uri):
            body = (
                self._client.get_object(Bucket=ref.bucket, Key=ref.key, IfMatch=f'"{if_match}"')
                if if_match
                else self._client.get_object(Bucket=ref.bucket, Key=ref.key)
            )["Body"]
            try:
                return stream_to_file(
                    body.iter_chunks(CHUNK_BYTES), dest, max_bytes=max_bytes, source=ref.uri
                )
            finally:
                body.close()  # drops the connection when the cap stopped the stream early

    def upload_file(self, path: Path, ref: ObjectRef, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        with self._mapped("upload", ref.uri):
            self._client.upload_file(
                str(path), ref.bucket, ref.key, ExtraArgs=extra, Config=TRANSFER
            )

    def put_bytes(self, ref: ObjectRef, data: bytes, *, content_type: str | None = None) -> None:
        kind = content_type or "application/octet-stream"  # what S3 itself would assume
        with self._mapped("write", ref.uri):
            self._client.put_object(Bucket=ref.bucket, Key=ref.key, Body=data, ContentType=kind)

    def get_bytes(self, ref: ObjectRef, *, max_bytes: int) -> bytes:
        with self._mapped("read", ref.uri):
            response = self._client.get_object(Bucket=ref.bucket, Key=ref.key)
            body = response["Body"]
            try:
                data = b"" if response["ContentLength"] > max_bytes else body.read(max_bytes + 1)
            finally:
                body.close()
        if response["ContentLength"] > max_bytes or len(data) > max_bytes:
            raise too_large(ref.uri, max_bytes)
        return data

    def exists(self, ref: ObjectRef) -> bool:
        try:
            self.head(ref)
        except LtbError as exc:
            if exc.code == "source_not_found":
                return False
            raise
        return True

    def list(self, prefix: ObjectRef) -> Iterator[ListedObject]:
        _check_key(_folder(prefix.key), prefix.uri)
        pages = self._client.get_paginator("list_objects_v2")
        with self._mapped("list", prefix.uri):
            for page in pages.paginate(Bucket=prefix.bucket, Prefix=_folder(prefix.key)):
                for obj in page.get("Contents", []):
                    ref = ObjectRef(prefix.bucket, obj["Key"])
                    yield ListedObject(ref, obj["Size"], _bare(obj.get("ETag")))

    @property
    def presigns_http(self) -> bool:
        return True

    def presign_get(self, ref: ObjectRef, *, expires_s: int) -> str:
        _check_expiry(expires_s)
        with self._mapped("presign", ref.uri):
            return self._signer.generate_presigned_url(
                "get_object", Params={"Bucket": ref.bucket, "Key": ref.key}, ExpiresIn=expires_s
            )

    def delete_prefix(self, prefix: ObjectRef) -> int:
        folder, deleted = _folder(prefix.key), 0
        _check_key(folder, prefix.uri)  # never a whole bucket
        # Re-list from the start each round: that never depends on how a server's continuation
        # token copes with keys deleted under it, and a page's 1,000 keys are one delete batch.
        with self._mapped("delete", prefix.uri):
            while True:
                page = self._client.list_objects_v2(Bucket=prefix.bucket, Prefix=folder)
                keys: list[ObjectIdentifierTypeDef] = [
                    {"Key": obj["Key"]} for obj in page.get("Contents", [])
                ]
                if not keys:
                    return deleted
                batch: DeleteTypeDef = {"Objects": keys, "Quiet": True}
                failed = self._client.delete_objects(Bucket=prefix.bucket, Delete=batch)
                if errors := failed.get("Errors", []):
                    raise unavailable(
                        f"could not delete {len(errors)} objects under {prefix.uri}; the first, {errors[0].get('Key')}: {errors[0].get('Code')}"
                    )
                deleted += len(keys)

    def delete_objects(self, refs: Sequence[ObjectRef]) -> int:
        """Deletes exactly these objects (a missing one is no error); returns how many asked."""
        by_bucket: dict[str, list[str]] = {}
        for ref in refs:
            by_bucket.setdefault(ref.bucket, []).append(ref.key)
        for bucket, keys in by_bucket.items():
            for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 per request
                batch: DeleteTypeDef = {
                    "Objects": [{"Key": key} for key in keys[start : start + 1000]],
                    "Quiet": True,
                }
                with self._mapped("delete", f"s3://{bucket}/{keys[start]}"):
                    failed = self._client.delete_objects(Bucket=bucket, Delete=batch)
                if errors := failed.get("Errors", []):
                    raise unavailable(
                        f"could not delete {len(errors)} objects in s3://{bucket}; the first, {errors[0].get('Key')}: {errors[0].get('Code')}"
                    )
        return len(refs)

    def ensure_bucket(self, name: str) -> None:
        _check_bucket(name, f"s3://{name}")
        with self._mapped("create bucket", f"s3://{name}"):
            try:
                self._client.head_bucket(Bucket=name)
                return
            except ClientError as exc:
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 404:
                    raise
            try:
                if self._region == "us-east-1":  # AWS refuses an explicit us-east-1 constraint
                    self._client.create_bucket(Bucket=name)
                else:
                    # The stubs know AWS regions only; MinIO and OSS name their own.
                    where: BucketLocationConstraintType = self._region  # type: ignore[assignment]
                    self._client.create_bucket(
                        Bucket=name, CreateBucketConfiguration={"LocationConstraint": where}
                    )
            except ClientError as exc:
                # Another worker created it between our head and create: that is success.
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise

    def check(self) -> None:
        """One cheap request: HEAD the probe bucket (ListBuckets needs a wider permission)."""
        with self._mapped("reach", self._probe_bucket or self._where):
            if self._probe_bucket:
                self._client.head_bucket(Bucket=self._probe_bucket)
            else:
                self._client.list_buckets(MaxBuckets=1)


def _bare(etag: str | None) -> str | None:
    return etag.strip('"') if etag else None


class LocalStore:
    """The embedded profile's store: `s3://bucket/key` is the file `<root>/bucket/key`.

    - Writes go to `<root>/.partial/` (no bucket name starts with a dot) and are renamed into
      place, so readers and listings never see half an object.
    - ETags are `<size hex>-<mtime_ns hex>`: they change whenever an object is rewritten,
      without hashing gigabytes on every `head`. They are not MD5s.
    - Content types are guessed from the key's extension; nothing else is stored beside a file.
    - `presign_get` returns a `file://` URI: the embedded profile runs no HTTP object server,
      so it only works for readers on this machine, and `expires_s` is not enforced.
    - Buckets are folders made by `ensure_bucket`; writing into a missing one fails as on S3.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._partial = self.root / ".partial"

    def _path(self, ref: ObjectRef) -> Path:
        _check_bucket(ref.bucket, ref.uri)
        _check_key(ref.key, ref.uri)
        bucket_dir = self.root / ref.bucket
        # resolve() also follows symlinks, so a link planted under the root cannot lead out of it.
        path = (bucket_dir / ref.key).resolve()
        if not path.is_relative_to(bucket_dir) or path == bucket_dir:
            raise _invalid(ref.uri, "the key leads outside its bucket")
        return path

    def _writable(self, ref: ObjectRef) -> Path:
        if ref.key.endswith("/"):  # a file there would shadow the folder's objects
            raise _invalid(ref.uri, "an object key cannot end in '/' here")
        path = self._path(ref)
        if not (self.root / ref.bucket).is_dir():
            raise not_found(f"s3://{ref.bucket}", bucket_missing=True)
        self._partial.mkdir(exist_ok=True)
        return path

    def _write(self, ref: ObjectRef, chunks: Iterable[bytes]) -> None:
        path = self._writable(ref)
        stream_to_file(
            chunks, path, max_bytes=sys.maxsize, source=ref.uri, tmp_dir=self._partial, durable=True
        )

    def head(self, ref: ObjectRef) -> ObjectInfo:
        try:
            st = self._path(ref).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise not_found(ref.uri) from None
        if not stat.S_ISREG(st.st_mode):
            raise not_found(ref.uri)
        content_type = mimetypes.guess_type(ref.key)[0]
        return ObjectInfo(st.st_size, f"{st.st_size:x}-{st.st_mtime_ns:x}", content_type)

    def _open(self, ref: ObjectRef) -> BinaryIO:
        try:
            return self._path(ref).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise not_found(ref.uri) from None

    def download(
        self, ref: ObjectRef, dest: Path, *, max_bytes: int, if_match: str | None = None
    ) -> str:
        info = self.head(ref)
        if if_match and info.etag != if_match:
            raise changed(ref.uri)
        if info.size > max_bytes:
            raise too_large(ref.uri, max_bytes)
        with self._open(ref) as source:
            return stream_to_file(_read_chunks(source), dest, max_bytes=max_bytes, source=ref.uri)

    def upload_file(self, path: Path, ref: ObjectRef, *, content_type: str | None = None) -> None:
        with path.open("rb") as source:
            self._write(ref, _read_chunks(source))

    def put_bytes(self, ref: ObjectRef, data: bytes, *, content_type: str | None = None) -> None:
        self._write(ref, [data])

    def get_bytes(self, ref: ObjectRef, *, max_bytes: int) -> bytes:
        with self._open(ref) as source:
            data = source.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise too_large(ref.uri, max_bytes)
        return data

    def exists(self, ref: ObjectRef) -> bool:
        return self._path(ref).is_file()

    def list(self, prefix: ObjectRef) -> Iterator[ListedObject]:
        bucket_dir = self.root / prefix.bucket
        folder = self._path(ObjectRef(prefix.bucket, _folder(prefix.key)))
        keys = [
            (Path(top, name).relative_to(bucket_dir).as_posix())
            for top, _dirs, names in os.walk(folder)
            for name in names
        ]
        for key in sorted(keys, key=str.encode):  # S3 lists in UTF-8 byte order
            try:
                info = self.head(ObjectRef(prefix.bucket, key))
            except LtbError:
                continue  # deleted while listing, or a link leading out of the bucket
            yield ListedObject(ObjectRef(prefix.bucket, key), info.size, info.etag)

    @property
    def presigns_http(self) -> bool:
        # file:// URLs: nothing outside this machine can fetch them.
        return False

    def presign_get(self, ref: ObjectRef, *, expires_s: int) -> str:
        _check_expiry(expires_s)
        return self._path(ref).as_uri()

    def delete_prefix(self, prefix: ObjectRef) -> int:
        listed = [*self.list(prefix)]
        for item in listed:
            self._path(item.ref).unlink(missing_ok=True)
        return len(listed)

    def delete_objects(self, refs: Sequence[ObjectRef]) -> int:
        for ref in refs:
            self._path(ref).unlink(missing_ok=True)
        return len(refs)

    def ensure_bucket(self, name: str) -> None:
        _check_bucket(name, f"s3://{name}")
        (self.root / name).mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LtbError(
                f"cannot create the storage folder {self.root}: {exc.strerror}",
                code="storage_error",
            ) from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise LtbError(f"the storage folder {self.root} is not writable", code="storage_error")


def object_store(settings: Settings) -> ObjectStore:
    """S3 in production or whenever an endpoint is configured; otherwise the local folder."""
    if settings.profile == "production" or settings.s3_endpoint_url:
        endpoint = settings.s3_endpoint_url or None
        host = (urlsplit(endpoint).hostname if endpoint else None) or ""
        # Alibaba OSS refuses path-style requests (SecondLevelDomainForbidden).
        style: Literal["path", "virtual"] | None = (
            "virtual" if host.endswith(".aliyuncs.com") else None
        )
        return S3Store(
            endpoint_url=endpoint,
            region=settings.s3_region,
            probe_bucket=settings.output_bucket,
            addressing_style=style,
            public_endpoint_url=settings.s3_public_endpoint_url or None,
        )
    return LocalStore(settings.storage_root)
