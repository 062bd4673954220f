"""S3Storage against moto's real server: the Storage contract, encryption on every write, streaming
multipart writes that abort cleanly, streaming reads, and SigV4 links that a plain HTTP GET can use."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request

import boto3
import pytest

from batch_job.errors import StorageError
from batch_job.s3storage import MIB, S3Storage
from batch_job.settings import Settings
from batch_job.storage import open_storage
from testing.aws_fakes import aws_env, moto_server

BUCKET = "maskalbum-storage"


@pytest.fixture(scope="module")
def s3():
    with moto_server() as endpoint, pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("AWS_", "MASKALBUM_"))]:
            mp.delenv(key)
        for key, value in aws_env(endpoint).items():
            mp.setenv(key, value)
        from batch_job.aws import s3_client

        client = s3_client(Settings(region="us-east-1"))
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_the_storage_contract_with_a_prefix_and_unicode_keys(s3):
    store = S3Storage(s3, BUCKET, "albums/a1")
    store.write("output/images/銚子 旅行/写真 1.jpg", b"jpeg bytes", "image/jpeg")
    store.write("output/manifest.csv", b"path\n", "text/csv")
    assert store.read("output/images/銚子 旅行/写真 1.jpg") == b"jpeg bytes"
    assert store.exists("output/manifest.csv") and not store.exists("output/faces.csv")
    assert (store.size("output/manifest.csv"), store.size("nope")) == (5, None)
    assert sorted(store.list("output/")) == ["output/images/銚子 旅行/写真 1.jpg", "output/manifest.csv"]
    assert s3.head_object(Bucket=BUCKET, Key="albums/a1/output/manifest.csv")["ContentType"] == "text/csv"
    store.delete("output/manifest.csv")
    assert list(store.list("output/")) == ["output/images/銚子 旅行/写真 1.jpg"]
    with pytest.raises(StorageError, match="no such object"):
        store.read("output/manifest.csv")
    with pytest.raises(StorageError, match="outside"):
        store.read("../other-album/input.json")


def test_open_storage_url_builds_an_s3_storage(s3):
    store = open_storage(f"s3://{BUCKET}/albums/a2")
    store.write("x.txt", b"hello")
    assert s3.get_object(Bucket=BUCKET, Key="albums/a2/x.txt")["Body"].read() == b"hello"
    assert store.url() == f"s3://{BUCKET}/albums/a2"


@pytest.mark.parametrize("kms_key", [None, "alias/maskalbum"])
def test_every_write_is_encrypted(s3, kms_key):
    store = S3Storage(s3, BUCKET, f"enc-{kms_key is not None}", kms_key=kms_key, part_size=5 * MIB)
    store.write("small", b"x")
    with store.open_write("big") as fh:
        fh.write(os.urandom(6 * MIB))
    for key in ("small", "big"):
        head = s3.head_object(Bucket=BUCKET, Key=f"enc-{kms_key is not None}/{key}")
        assert head["ServerSideEncryption"] == ("aws:kms" if kms_key else "AES256")
        if kms_key:
            assert kms_key in head["SSEKMSKeyId"]


def test_open_write_streams_in_parts(s3):
    store = S3Storage(s3, BUCKET, "mp", part_size=5 * MIB)
    blob = os.urandom(12 * MIB + 123)
    with store.open_write("album.zip", "application/zip") as fh:
        for start in range(0, len(blob), 1 * MIB):
            fh.write(blob[start : start + 1 * MIB])
    head = s3.head_object(Bucket=BUCKET, Key="mp/album.zip")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    assert head["ContentType"] == "application/zip"
    with store.open_read("album.zip") as fh:
        chunks = []
        while chunk := fh.read(MIB):
            chunks.append(chunk)
    assert b"".join(chunks) == blob
    with store.open_read("album.zip", start=len(blob) - 123) as fh:
        assert fh.read() == blob[-123:]


def test_a_failed_write_leaves_no_object_and_no_upload(s3):
    store = S3Storage(s3, BUCKET, "abort", part_size=5 * MIB)
    with pytest.raises(RuntimeError), store.open_write("album.zip") as fh:
        fh.write(os.urandom(11 * MIB))
        raise RuntimeError("the zip could not be finished")
    assert not store.exists("album.zip")
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix="abort/").get("Uploads", []) == []


def test_presigned_url_is_sigv4_and_downloads(s3):
    store = S3Storage(s3, BUCKET, "links")
    store.write("preview.jpg", b"preview bytes", "image/jpeg")
    url = store.presigned_url("preview.jpg", 30 * 24 * 3600)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["604800"]  # SigV4's 7-day maximum
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"preview bytes"


def test_connection_failures_are_storage_errors(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                          config=boto3.session.Config(retries={"total_max_attempts": 1}))  # fmt: skip
    with pytest.raises(StorageError, match="cannot write"):
        S3Storage(client, BUCKET).write("x", b"y")
