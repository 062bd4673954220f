"""The album-is-ready push, against a local fake LINE API: what LINE receives, and what the album records."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import socket
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from moto import mock_aws

from batch_job.detect.base import create_detector
from batch_job.line.client import LineClient, RetryPolicy, Secret
from batch_job.notify import notify_album
from batch_job.pipeline import Context, process_photo
from batch_job.runner import build_pool, finalize, write_shard
from batch_job.s3layout import S3_LAYOUT
from batch_job.settings import Settings
from batch_job.storage import LocalStorage, MemoryStorage
from testing.line_fakes import (
    PUSH,
    FakeLine,
    PresigningStorage,
    Reply,
    jpeg_size,
    masked_jpeg,
    offline_aws,
    plain_jpeg,
    running,
)

TOKEN = "tok-" + "Zx9" * 40  # a channel access token is ~170 characters
USER = "U" + "4" * 32


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    offline_aws(monkeypatch, tmp_path)


@pytest.fixture
def line():
    with running(TOKEN) as fake:
        yield fake


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)


@functools.lru_cache(maxsize=1)
def _processed() -> list[tuple[str, bytes, dict, bytes | None]]:
    """(key, original bytes, record, output bytes) for a two-photo album, processed once."""
    settings = Settings(seed=1)
    ctx = Context(settings, create_detector("local", settings), build_pool(settings))
    out = []
    for key, data in (("party/masked.jpg", masked_jpeg()), ("party/sky.jpg", plain_jpeg())):
        result = process_photo(key, data, ctx)
        out.append((key, data, result.to_json(), result.output if result.output is not None else data))
    return out


def finished_album(dest, layout=S3_LAYOUT):
    """An album finalized the way the Batch finalize job does it; returns (summary, source)."""
    source = MemoryStorage()
    records = []
    for key, data, record, output in _processed():
        source.write(key, data)
        dest.write(layout.images + record["row"]["output"], output)
        records.append(record)
    write_shard(dest, layout, 0, records)
    summary = finalize(dest, layout, "party")
    summary.seconds = 754.2
    return summary, source


def settings_for(line: FakeLine, **kw) -> Settings:
    return Settings(notify_line=USER, line_api_url=line.url, **kw)


def fast_client(line: FakeLine, **policy) -> LineClient:
    return LineClient(Secret(TOKEN), line.url, line.url, policy=RetryPolicy(**{"backoff": 0.05, **policy}))


def test_push_has_summary_zip_link_and_before_after_preview(line, token_env):
    dest = PresigningStorage()
    summary, source = finished_album(dest)
    assert summary.faces_masked >= 1

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT, album_id="a1", source=source)

    assert status == "sent"
    (request,) = line.to(PUSH)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    uuid.UUID(request.headers["x-line-retry-key"])
    body = request.json
    assert body["to"] == USER
    text, image = body["messages"]
    assert text["type"] == "text" and image["type"] == "image"
    for needle in (
        "party (id a1)",
        "Photos: 2 (1 without faces)",
        f"Faces masked: {summary.faces_masked} of",
        "Errors: 0",
        "12 min 34 s",
    ):
        assert needle in text["text"]
    zip_url = re.search(r"Download \(zip\): (\S+)", text["text"])[1]
    assert urlparse(zip_url).path == "/maskalbum-test/albums/a1/output/album.zip"
    assert parse_qs(urlparse(zip_url).query)["X-Amz-Expires"] == ["604800"]  # 7 days: IAM-user keys
    assert "(7 days from now)" in text["text"]
    # The image URLs are presigned SigV4 HTTPS links to the collage uploaded beside the album.
    for name, limit in (("originalContentUrl", 10_000_000), ("previewImageUrl", 1_000_000)):
        url = image[name]
        assert url.startswith("https://") and len(url) <= 2000 and "X-Amz-Signature=" in url
        key = urlparse(url).path.split("/albums/a1/", 1)[1]
        data = dest.read(key)
        assert len(data) <= limit
        width, height = jpeg_size(data)
        assert width > height  # before | after, side by side (the photo is 800x600)
    assert jpeg_size(dest.read("output/preview/collage-preview.jpg"))[0] <= 1024


def test_too_long_presigned_url_sends_text_with_reason(line, token_env, monkeypatch):
    # Role credentials: the session token rides in every presigned URL.
    monkeypatch.setenv("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjE" + "A/b+" * 450)
    dest = PresigningStorage()
    summary, source = finished_album(dest)

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT, source=source)

    assert status.startswith("sent text only: the preview image URL is ")
    assert "LINE allows 2000" in status
    (message,) = line.delivered[0]["messages"]
    assert message["type"] == "text" and "Download (zip): https://" in message["text"]
    assert "possibly sooner" in message["text"]  # a session token of unknown lifetime


def test_link_lifetime_follows_expiring_credentials(line, token_env, monkeypatch):
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzE" + "x" * 300)
    monkeypatch.setenv("AWS_CREDENTIAL_EXPIRATION", expires.isoformat())
    dest = PresigningStorage()
    summary, source = finished_album(dest)

    assert notify_album(summary, settings_for(line), dest, S3_LAYOUT, source=source) == "sent"

    text, image = line.delivered[0]["messages"]
    lifetime = int(parse_qs(urlparse(image["originalContentUrl"]).query)["X-Amz-Expires"][0])
    assert 3 * 3600 - 120 < lifetime <= 3 * 3600
    stamp = re.search(r"expire (\d{4}-\d\d-\d\d \d\d:\d\d) UTC", text["text"])[1]
    said = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
    assert abs((said - expires).total_seconds()) <= 120


def test_local_run_sends_the_text_summary_only(line, token_env, tmp_path):
    dest = LocalStorage(tmp_path / "out")
    summary, _ = finished_album(dest)

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT)

    assert status.startswith("sent text only:") and "no shareable links" in status
    (message,) = line.delivered[0]["messages"]
    assert f"Saved to: {tmp_path / 'out'}" in message["text"]
    assert "Download" not in message["text"]


def test_retry_after_500_reuses_the_retry_key_and_delivers_once(line):
    line.program(PUSH, Reply(500), Reply(503))
    dest = PresigningStorage()
    summary, source = finished_album(dest)

    assert notify_album(summary, settings_for(line), dest, S3_LAYOUT, source=source, client=fast_client(line)) == "sent"

    keys = [r.headers["x-line-retry-key"] for r in line.to(PUSH)]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert len(line.delivered) == 1


def test_lost_answer_then_409_counts_as_sent_once(line):
    # LINE accepted the push but the answer never arrived (read timeout): the retry
    # carries the same key, LINE says 409, and the user has exactly one message.
    line.program(PUSH, Reply(200, delay=1.0))
    dest = PresigningStorage()
    summary, source = finished_album(dest)
    client = fast_client(line, timeout=(2.0, 0.3))

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT, source=source, client=client)

    assert status == "sent"
    assert len(line.to(PUSH)) == 2
    assert len({r.headers["x-line-retry-key"] for r in line.to(PUSH)}) == 1
    assert len(line.delivered) == 1


def test_429_waits_for_retry_after(line, token_env):
    line.program(
        PUSH, Reply(429, {"message": "The API rate limit has been exceeded. Try again later."}, {"Retry-After": "1"})
    )
    dest = MemoryStorage()
    summary, _ = finished_album(dest)

    assert (
        notify_album(summary, settings_for(line), dest, S3_LAYOUT) == "sent text only: memory: has no shareable links"
    )

    first, second = line.to(PUSH)
    assert second.at - first.at >= 1.0
    assert first.headers["x-line-retry-key"] == second.headers["x-line-retry-key"]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(429, {"message": "You have reached your monthly limit."}),
            "failed: LINE 429: You have reached your monthly limit.",
        ),
        (Reply(429, {"message": "rate limit"}, {"Retry-After": "3600"}), "failed: LINE 429: rate limit"),
        (
            Reply(400, {"message": "The property, 'to', in the request body is invalid"}),
            "failed: LINE 400: The property",
        ),
        (Reply(403, {"message": "Access to this API is not available for your account"}), "failed: LINE 403: Access"),
    ],
)
def test_refusals_fail_the_notification_not_the_album(line, token_env, reply, expected):
    line.program(PUSH, reply)
    dest = MemoryStorage()
    summary, _ = finished_album(dest)

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT)

    assert status.startswith(expected)
    assert len(line.to(PUSH)) == 1  # a refusal is not retried
    assert line.delivered == []


def test_line_outage_after_retries(line, token_env):
    line.program(PUSH, *[Reply(500)] * 10)
    dest = MemoryStorage()
    summary, _ = finished_album(dest)

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT, client=fast_client(line, attempts=3))

    assert status == "failed: LINE 500: error"
    assert len(line.to(PUSH)) == 3


def test_unreachable_line_fails_cleanly(token_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    dest = MemoryStorage()
    summary, _ = finished_album(dest)
    settings = Settings(notify_line=USER, line_api_url=f"http://127.0.0.1:{port}")
    client = LineClient(Secret(TOKEN), settings.line_api_url, policy=RetryPolicy(attempts=2, backoff=0.01))

    status = notify_album(summary, settings, dest, S3_LAYOUT, client=client)

    assert status.startswith("failed: cannot reach LINE")


def test_no_token_skips(line):
    dest = MemoryStorage()
    summary, _ = finished_album(dest)
    assert notify_album(summary, settings_for(line), dest, S3_LAYOUT) == "skipped: no token"
    assert line.requests == []


def test_token_from_secrets_manager(line):
    with mock_aws():
        import boto3

        arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="maskalbum/line",
            SecretString=json.dumps({"LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_CHANNEL_SECRET": "s"}),
        )["ARN"]
        dest = MemoryStorage()
        summary, _ = finished_album(dest)
        status = notify_album(summary, settings_for(line, line_token_secret_arn=arn), dest, S3_LAYOUT)
    assert status.startswith("sent")
    assert line.to(PUSH)[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_missing_secret_fails_without_raising(line):
    with mock_aws():
        arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:maskalbum/absent-AbCdEf"
        dest = MemoryStorage()
        summary, _ = finished_album(dest)
        status = notify_album(summary, settings_for(line, line_token_secret_arn=arn), dest, S3_LAYOUT)
    assert status == "failed: cannot read LINE_CHANNEL_ACCESS_TOKEN from Secrets Manager (ResourceNotFoundException)"


def test_token_never_logged(line, token_env, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    line.program(PUSH, Reply(500), Reply(401, {"message": "Authentication failed"}))
    dest = PresigningStorage()
    summary, source = finished_album(dest)

    status = notify_album(summary, settings_for(line), dest, S3_LAYOUT, source=source)

    assert status == "failed: LINE 401: Authentication failed"
    assert caplog.records  # the retry and the failure were logged
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.body.decode() for r in line.requests)
    assert TOKEN not in repr(Secret(TOKEN)) and TOKEN not in f"{Secret(TOKEN)}"
