"""The S3 storage: ``s3://bucket/prefix`` with a boto3 client passed in.

Every PUT and multipart upload is server-side encrypted (AES256, or aws:kms
with ``kms_key``). ``open_write`` streams through a multipart upload, so the
finalize job's zip never sits whole in memory or on disk; ``open_read``
streams the response body.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Iterator
from typing import BinaryIO

import botocore.exceptions

from batch_job.aws import error_code, s3_client
from batch_job.errors import StorageError, UsageError
from batch_job.settings import Settings, resolve
from batch_job.storage import register

MIB = 1 << 20
# S3's floor for every part but the last is 5 MiB; 8 MiB parts hold 80 GB in
# the 10,000 parts allowed, and the size doubles every 1,000 parts beyond that.
PART_SIZE = 8 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB
SIGV4_MAX_EXPIRY = 7 * 24 * 3600
_MISSING = {"404", "NoSuchKey", "NotFound"}


def encryption_args(kms_key: str | None) -> dict[str, str]:
    if kms_key:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
    return {"ServerSideEncryption": "AES256"}


def split_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (bucket, "some/prefix")."""
    if not url.startswith("s3://"):
        raise UsageError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"no bucket in {url}")
    return bucket, prefix.strip("/")


class S3Storage:
    """Objects under ``s3://bucket/prefix/``; keys are relative to the prefix."""

    def __init__(self, client, bucket: str, prefix: str = "", kms_key: str | None = None, part_size: int = PART_SIZE):
        if part_size < 5 * MIB:
            raise ValueError("S3 multipart parts are at least 5 MiB")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.sse = encryption_args(kms_key)
        self.part_size = part_size

    def under(self, prefix: str) -> S3Storage:
        """The storage at ``prefix`` below this one: same client, bucket, encryption and part size."""
        child = S3Storage(self.client, self.bucket, self.prefix + prefix.strip("/"), part_size=self.part_size)
        child.sse = dict(self.sse)
        return child

    def key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"refusing key outside the storage prefix: {key!r}")
        return self.prefix + key

    def read(self, key: str) -> bytes:
        with self._errors("read", key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(key))["Body"]
            with contextlib.closing(body):
                return body.read()

    def write(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        with self._errors("write", key):
            self.client.put_object(Bucket=self.bucket, Key=self.key(key), Body=data, **extra, **self.sse)

    def head(self, key: str) -> dict | None:
        try:
            with self._errors("inspect", key):
                return self.client.head_object(Bucket=self.bucket, Key=self.key(key))
        except _Missing:
            return None

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def size(self, key: str) -> int | None:
        head = self.head(key)
        return None if head is None else int(head["ContentLength"])

    def list(self, prefix: str = "") -> Iterator[str]:
        yield from (key for key, _ in self.list_sizes(prefix))

    def list_sizes(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """(key, size) under ``prefix``, in S3's (UTF-8 binary) order."""
        with self._errors("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(self.prefix) :], int(obj["Size"])

    def list_objects(self, prefix: str = "") -> Iterator[dict]:
        """The raw list entries (Key relative to the prefix, Size, LastModified, ETag)."""
        with self._errors("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    yield {**obj, "Key": obj["Key"][len(self.prefix) :]}

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(key))

    def folders(self, prefix: str = "") -> Iterator[str]:
        """The "subfolders" directly under ``prefix`` (S3 common prefixes), relative, ending in "/"."""
        with self._errors("list", prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    yield common["Prefix"][len(self.prefix) :]

    def upload_file(
        self, path: str, key: str, content_type: str, metadata: dict[str, str], transfer_config=None
    ) -> None:
        """Upload a local file with the transfer manager (multipart and parallel parts for big files)."""
        extra = {"ContentType": content_type, "Metadata": metadata, **self.sse}
        with self._errors("upload to", key):
            self.client.upload_file(path, self.bucket, self.key(key), ExtraArgs=extra, Config=transfer_config)

    @contextlib.contextmanager
    def open_read(self, key: str, start: int = 0, if_match: str | None = None) -> Iterator[BinaryIO]:
        """Stream an object, optionally from byte ``start`` and only if its ETag is still ``if_match``."""
        extra: dict = {}
        if start:
            extra["Range"] = f"bytes={start}-"
        if if_match:
            extra["IfMatch"] = if_match
        with self._errors("read", key):
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(key), **extra)["Body"]
        reader = _Reader(body, self.describe(key))
        try:
            yield reader  # type: ignore[misc]
        finally:
            body.close()

    @contextlib.contextmanager
    def open_write(self, key: str, content_type: str | None = None) -> Iterator[BinaryIO]:
        writer = _MultipartWriter(self, self.key(key), content_type)
        try:
            yield writer  # type: ignore[misc]
            writer.finish()
        except BaseException:
            writer.abort()  # an aborted upload leaves no object and no billed parts behind
            raise

    def describe(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.rstrip('/')}" if self.prefix else f"s3://{self.bucket}"

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        """A SigV4 GET link. It dies early when the signing credentials are temporary (a role's
        session token expires first), whatever ``expires_seconds`` says."""
        expires = max(1, min(int(expires_seconds), SIGV4_MAX_EXPIRY))
        with self._errors("sign a link to", key):
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self.key(key)}, ExpiresIn=expires
            )

    @contextlib.contextmanager
    def _errors(self, verb: str, key: str) -> Iterator[None]:
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            if code in _MISSING:
                raise _Missing(f"cannot {verb} {self.describe(key)}: no such object") from exc
            if code in ("PreconditionFailed", "412"):
                raise Changed(f"{self.describe(key)} changed while it was being read") from exc
            message = exc.response.get("Error", {}).get("Message", "")
            raise StorageError(f"cannot {verb} {self.describe(key)}: {code}: {message}") from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"cannot {verb} {self.describe(key)}: {exc}") from exc


class _Missing(StorageError):
    """The object does not exist."""


class Changed(StorageError):
    """The object was replaced since the ETag we hold (a resumed download must start over)."""


class _Reader(io.RawIOBase):
    """A response body as a readable stream whose network errors are StorageErrors."""

    def __init__(self, body, where: str) -> None:
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._body.read(None if size is None or size < 0 else size)
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            raise StorageError(f"reading {self._where} failed: {exc}") from exc

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _MultipartWriter(io.RawIOBase):
    """A write-only, non-seekable stream that uploads itself part by part.

    At most one part is buffered. Small results (under one part) go up as a
    single PUT when the stream finishes. zipfile sees ``seekable() == False``
    and writes data descriptors instead of seeking back.
    """

    def __init__(self, storage: S3Storage, key: str, content_type: str | None) -> None:
        self._s = storage
        self._key = key
        self._content_type = content_type
        self._buffer = bytearray()
        self._part_size = storage.part_size
        self._parts: list[dict] = []
        self._upload_id: str | None = None
        self._written = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._written

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        self._written += len(view)
        while len(self._buffer) >= self._part_size:
            chunk = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._upload_part(chunk)
        return len(view)

    def _extra(self) -> dict:
        return {"ContentType": self._content_type} if self._content_type else {}

    def _upload_part(self, chunk: bytes) -> None:
        s = self._s
        with s._errors("upload a part of", self._key[len(s.prefix) :]):
            if self._upload_id is None:
                answer = s.client.create_multipart_upload(Bucket=s.bucket, Key=self._key, **self._extra(), **s.sse)
                self._upload_id = answer["UploadId"]
            number = len(self._parts) + 1
            answer = s.client.upload_part(
                Bucket=s.bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=chunk
            )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        if number % 1000 == 0:
            self._part_size = min(self._part_size * 2, MAX_PART_SIZE)

    def finish(self) -> None:
        s = self._s
        relative = self._key[len(s.prefix) :]
        if self._upload_id is None:
            s.write(relative, bytes(self._buffer), self._content_type)
        else:
            if self._buffer:
                self._upload_part(bytes(self._buffer))
            with s._errors("complete the upload of", relative):
                s.client.complete_multipart_upload(
                    Bucket=s.bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
                )
        self._buffer = bytearray()
        super().close()

    def abort(self) -> None:
        self._buffer = bytearray()
        if self._upload_id is not None:
            with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                self._s.client.abort_multipart_upload(Bucket=self._s.bucket, Key=self._key, UploadId=self._upload_id)
            self._upload_id = None
        super().close()

    def close(self) -> None:
        # zipfile closes the stream it was handed; the upload is finished (or
        # aborted) by open_write, which knows whether the body raised.
        pass


@functools.lru_cache(maxsize=4)
def _client_for(region: str | None, profile: str | None, retry_mode: str, max_attempts: int):
    settings = Settings(region=region, profile=profile, retry_mode=retry_mode, max_attempts=max_attempts)
    return s3_client(settings)


def storage_from_settings(url: str, settings: Settings) -> S3Storage:
    bucket, prefix = split_url(url)
    client = _client_for(settings.region, settings.profile, settings.retry_mode, settings.max_attempts)
    return S3Storage(client, bucket, prefix, kms_key=settings.kms_key)


@register("s3")
def _s3(url: str) -> S3Storage:
    # A worker process gets only the URL: region, profile and KMS key come from
    # its environment (MASKALBUM_*), as everything else in the container does.
    return storage_from_settings(url, resolve({}, os.environ))
