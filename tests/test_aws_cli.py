"""The AWS commands from the outside: help texts, --dry-run without AWS, album ids and keys,
resumable download and safe extraction (moto's server where S3 is needed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import stat
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from batch_job import cloud
from batch_job.errors import UsageError
from cli.app import app
from testing.aws_fakes import aws_env, moto_server, write_album
from testing.helpers import encode, gradient_image

AWS_COMMANDS = ["submit", "status", "download", "albums", "cancel", "logs", "register-job-definition"]
BUCKET = "maskalbum-cli"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("command", AWS_COMMANDS)
def test_every_aws_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    # The assembled command (the root adds each module's Typer): every AWS command is there, with its docstring.
    assert (typer.main.get_command(app).commands[command].help or "").strip()


@pytest.fixture
def album(tmp_path) -> Path:
    return write_album(
        tmp_path / "Chōshi trip",
        {
            "a.jpg": encode(gradient_image((320, 240)), "JPEG"),
            "sub/b.png": encode(gradient_image((200, 100)), "PNG"),
            unicodedata.normalize("NFD", "café/é.jpg"): encode(gradient_image((100, 100)), "JPEG"),
            "notes.txt": b"not a photo",
            ".DS_Store": b"hidden",
        },
    )


@pytest.fixture
def no_aws(monkeypatch):
    """Any AWS call fails: no credentials, and the endpoint is a closed port."""
    for key in [k for k in os.environ if k.startswith(("AWS_", "MASKALBUM_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("MASKALBUM_CONFIG", "/nonexistent/config.toml")


def test_dry_run_prints_the_plan_and_the_cost_without_aws(album, no_aws):
    result = invoke("submit", str(album), "--dry-run", "--detector", "rekognition", "--shard-size", "2")
    assert result.exit_code == 0, result.output
    assert re.search(r"album id \(if new\): choshi_trip-\d{8}-[0-9a-f]{6}", result.stdout)
    for key in ("a.jpg", "sub/b.png", "café/é.jpg", "notes.txt"):
        assert key in result.stdout
    assert ".DS_Store" not in result.stdout
    assert "an array job of 2" in result.stdout
    assert "3 Rekognition calls, about $0.003" in result.stdout

    # On AWS Rekognition is the default detector; MASKALBUM_DETECTOR (or the config file) still decides.
    as_json = json.loads(invoke("submit", str(album), "--dry-run", "--json").stdout)
    assert (as_json["photos"], as_json["shards"], as_json["array_size"]) == (3, 1, None)
    assert (as_json["detector"], as_json["rekognition_usd"]) == ("rekognition", 0.003)
    assert as_json["destination"].startswith("s3://<bucket>/albums/choshi_trip-")
    local = json.loads(
        CliRunner()
        .invoke(app, ["submit", str(album), "--dry-run", "--json"], env={"MASKALBUM_DETECTOR": "local"})
        .stdout
    )
    assert (local["detector"], local["rekognition_usd"]) == ("local", 0.0)


def test_submit_needs_bucket_queue_and_definition(album, no_aws):
    result = invoke("submit", str(album))
    assert result.exit_code == 2
    assert "--bucket" in result.output and "--job-queue" in result.output


def test_submit_refuses_unknown_masks_before_uploading(album, no_aws):
    result = invoke(
        "submit", str(album), "--bucket", "b", "--job-queue", "q", "--job-definition", "d", "--mask", "nope"
    )
    assert result.exit_code == 2


def test_options_come_from_env_and_the_config_file(album, no_aws, tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('shard_size = 1\ndetector = "rekognition"\n')
    monkeypatch.setenv("MASKALBUM_CONFIG", str(config))
    monkeypatch.setenv("MASKALBUM_BUCKET", "from-env")
    plan = json.loads(invoke("submit", str(album), "--dry-run", "--json").stdout)
    assert (plan["shards"], plan["detector"]) == (4, "rekognition")
    assert plan["destination"].startswith("s3://from-env/")
    flagged = json.loads(invoke("submit", str(album), "--dry-run", "--json", "--shard-size", "3").stdout)
    assert flagged["shards"] == 2  # a flag beats env and config


def test_album_ids_are_readable_and_follow_the_content(album):
    assert cloud.slugify("Chōshi trip!") == "choshi_trip"
    assert cloud.slugify("銚子旅行") == "album"
    plan = cloud.plan_album(album)
    assert [f.key for f in plan.files] == ["a.jpg", "café/é.jpg", "notes.txt", "sub/b.png"]
    assert all(unicodedata.is_normalized("NFC", f.key) for f in plan.files)
    day = dt.date(2026, 11, 28)
    first = cloud.new_album_id(plan, day)
    assert re.fullmatch(r"choshi_trip-20261128-[0-9a-f]{6}", first)
    assert cloud.new_album_id(cloud.plan_album(album), day) == first
    (album / "a.jpg").write_bytes(encode(gradient_image((321, 240)), "JPEG"))
    assert cloud.new_album_id(cloud.plan_album(album), day) != first


def _zip(members: list[tuple[str, bytes, int | None]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            zf.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "member",
    [
        ("../escape.txt", b"x", None),
        ("images/../../escape.txt", b"x", None),
        ("/tmp/absolute.txt", b"x", None),
        ("C:/windows.txt", b"x", None),
        ("images/link", b"/etc/passwd", stat.S_IFLNK | 0o777),
    ],
)
def test_extraction_refuses_members_that_escape(tmp_path, member):
    path = tmp_path / "evil.zip"
    path.write_bytes(_zip([("images/ok.jpg", b"fine", None), member]))
    target = tmp_path / "out" / "album"
    with pytest.raises(UsageError, match="unsafe member"):
        cloud.safe_extract(path, target)
    assert not target.exists()  # nothing at all, not even the good member
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "out" / "escape.txt").exists()


def test_extraction_does_not_follow_a_planted_link(tmp_path):
    target = tmp_path / "album"
    (target / "images").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "images" / "sub").symlink_to(outside)
    path = tmp_path / "a.zip"
    path.write_bytes(_zip([("images/sub/x.jpg", b"x", None)]))
    with pytest.raises(UsageError):
        cloud.safe_extract(path, target)
    assert list(outside.iterdir()) == []


@pytest.fixture
def finished_album(monkeypatch):
    """A bucket holding one finished album (summary and zip) on moto's server."""
    with moto_server() as endpoint:
        for key in [k for k in os.environ if k.startswith(("AWS_", "MASKALBUM_"))]:
            monkeypatch.delenv(key)
        for key, value in aws_env(endpoint).items():
            monkeypatch.setenv(key, value)
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        blob = _zip(
            [(f"images/{i}.jpg", os.urandom(200_000), None) for i in range(5)] + [("manifest.csv", b"path\n", None)]
        )
        prefix = "albums/trip-20261128-abcdef/"
        s3.put_object(Bucket=BUCKET, Key=prefix + "output/album.zip", Body=blob)
        s3.put_object(
            Bucket=BUCKET,
            Key=prefix + "output/summary.json",
            Body=json.dumps({"photos": 5, "ok": 5, "error": 0}).encode(),
        )
        yield s3, "trip-20261128-abcdef", blob


def test_download_resumes_a_partial_file(finished_album, tmp_path):
    s3, album_id, blob = finished_album
    etag = s3.head_object(Bucket=BUCKET, Key=f"albums/{album_id}/output/album.zip")["ETag"]
    (tmp_path / f"{album_id}.zip.part").write_bytes(blob[:400_000])
    (tmp_path / f"{album_id}.zip.part.etag").write_text(etag)
    result = invoke("download", album_id, "--bucket", BUCKET, "--dest", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)
    assert (first["resumed_from"], first["fetched"]) == (400_000, len(blob) - 400_000)
    assert hashlib.sha256((tmp_path / f"{album_id}.zip").read_bytes()).digest() == hashlib.sha256(blob).digest()
    assert not (tmp_path / f"{album_id}.zip.part").exists()
    again = json.loads(invoke("download", album_id, "--bucket", BUCKET, "--dest", str(tmp_path), "--json").stdout)
    assert again["fetched"] == 0  # the same zip is already here


def test_download_starts_over_when_the_zip_changed(finished_album, tmp_path):
    _s3, album_id, blob = finished_album
    (tmp_path / f"{album_id}.zip.part").write_bytes(b"x" * 400_000)  # from an older run of the album
    (tmp_path / f"{album_id}.zip.part.etag").write_text('"0123456789abcdef"')
    result = invoke("download", album_id, "--bucket", BUCKET, "--dest", str(tmp_path), "--extract")
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{album_id}.zip").read_bytes() == blob
    assert sorted(p.name for p in (tmp_path / album_id / "images").iterdir()) == [f"{i}.jpg" for i in range(5)]


def test_status_of_an_unknown_album_is_a_usage_error(finished_album):
    result = invoke("status", "nope-20260101-000000", "--bucket", BUCKET)
    assert result.exit_code == 2
    assert "no album nope-20260101-000000" in result.output


def test_logs_read_every_stream_forward_once(monkeypatch):
    from batch_job.cloud.logs import LogReader, streams_of

    now = int(time.time() * 1000)  # CloudWatch drops events older than 14 days
    with moto_server() as endpoint:
        for key, value in aws_env(endpoint).items():
            monkeypatch.setenv(key, value)
        import boto3

        logs = boto3.client("logs")
        logs.create_log_group(logGroupName="/maskalbum/batch")
        for stream, lines in (
            ("maskalbum/default/aaa", ["shard 0 start", "shard 0 done"]),
            ("maskalbum/default/bbb", ["final"]),
        ):
            logs.create_log_stream(logGroupName="/maskalbum/batch", logStreamName=stream)
            events = [{"timestamp": now + i, "message": m} for i, m in enumerate(lines)]
            logs.put_log_events(logGroupName="/maskalbum/batch", logStreamName=stream, logEvents=events)
        options = {"logConfiguration": {"options": {"awslogs-group": "/maskalbum/batch"}}}
        described = {
            "p": {"container": {}},  # an array parent has no stream of its own
            "p:0": {"container": {"logStreamName": "maskalbum/default/aaa", **options}},
            "p:1": {"container": {}},  # not started yet
            "f": {"container": {"logStreamName": "maskalbum/default/bbb", **options}},
        }
        streams = streams_of(described, {"shards": "p", "finalize": "f"})
        assert [(s.job, s.stream) for s in streams] == [
            ("shards:0", "maskalbum/default/aaa"),
            ("finalize", "maskalbum/default/bbb"),
        ]
        reader = LogReader(logs)
        assert list(reader.new_lines(streams[0])) == ["shard 0 start", "shard 0 done"]
        assert list(reader.new_lines(streams[0])) == []  # followed: nothing new yet
        logs.put_log_events(
            logGroupName="/maskalbum/batch", logStreamName="maskalbum/default/aaa",
            logEvents=[{"timestamp": now + 100, "message": "late line"}],
        )  # fmt: skip
        assert list(reader.new_lines(streams[0])) == ["late line"]
