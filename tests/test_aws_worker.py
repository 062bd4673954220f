"""The Batch worker as Batch runs it: a process with the job's environment, judged by its exit code and
by what it leaves in S3. A killed container and a Rekognition outage are both rerun (the next attempt)
without duplicates, without losses, and without redoing finished photos.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from batch_job import cloud, jobdef
from batch_job.aws import BatchJobs
from batch_job.s3storage import S3Storage
from batch_job.settings import Settings
from testing.aws_fakes import (
    FakeError,
    FakeRekognition,
    batch_container,
    detect_faces_response,
    moto_account,
    process_env,
    write_album,
)
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec

BUCKET = "maskalbum-worker"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def aws():
    with moto_account(BUCKET) as account:
        definition = jobdef.fill(jobdef.load(jobdef.default_path()), "maskalbum:test", account.role, account.role)
        jobs = BatchJobs(account.batch)
        jobdef.register(definition, jobs)
        yield SimpleNamespace(**vars(account), jobs=jobs, root=S3Storage(account.s3, BUCKET))


def submit(aws, album: Path, **settings) -> cloud.Submission:
    s = Settings(bucket=BUCKET, job_queue=aws.queue, job_definition="maskalbum", region="us-east-1", **settings)
    return cloud.submit_album(album, s, aws.root, aws.jobs, "us-east-1", today=dt.date(2026, 11, 28))


def start(aws, job_id: str, index: int | None = None, attempt: int = 1, **extra: str) -> subprocess.Popen:
    command, env = batch_container(aws.batch, job_id, index, attempt)
    return subprocess.Popen(
        [sys.executable, "-m", "batch_job", *command], env=process_env({**aws.env, **env, **extra}), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def objects(aws, album_id: str, prefix: str) -> dict[str, str]:
    """key -> ETag under albums/<id>/<prefix>."""
    full = f"albums/{album_id}/{prefix}"
    pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=full)
    return {o["Key"][len(full) :]: o["ETag"] for page in pages for o in page.get("Contents", [])}


def reused(log: str) -> int:
    return int(re.search(r"(\d+) reused from an earlier attempt", log).group(1))


def manifest(aws, album_id: str) -> list[dict]:
    body = aws.s3.get_object(Bucket=BUCKET, Key=f"albums/{album_id}/output/manifest.csv")["Body"].read()
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_a_killed_container_reruns_without_duplicates_losses_or_redone_photos(aws, tmp_path):
    people = [[PersonSpec(150 + 10 * i, asset=i % 2)] for i in range(6)]
    album = write_album(
        tmp_path / "killed",
        {f"IMG_{i:04d}.jpg": scene_jpeg(p, size=(800, 600), seed=40 + i) for i, p in enumerate(people)},
    )
    sub = submit(aws, album, seed=3)
    assert not sub.array  # six files, one shard: a plain job

    first = start(aws, sub.shard_job_id)
    deadline = time.monotonic() + 90
    while not objects(aws, sub.album_id, "state/records/"):
        assert first.poll() is None and time.monotonic() < deadline, finish(first)
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the whole container goes, pool workers too
    first.wait()
    kept = objects(aws, sub.album_id, "state/records/")
    images = objects(aws, sub.album_id, "output/images/")
    assert 1 <= len(kept) < 6, "the kill came too late to test anything"
    assert not objects(aws, sub.album_id, "shards/")

    code, log = finish(start(aws, sub.shard_job_id, attempt=2))
    assert code == 0, log
    assert reused(log) == len(kept)
    after = objects(aws, sub.album_id, "state/records/")
    assert len(after) == 6
    assert {k: after[k] for k in kept} == kept  # finished photos were not redone (same objects)
    assert {k: v for k, v in objects(aws, sub.album_id, "output/images/").items() if k in images} == images

    code, log = finish(start(aws, sub.finalize_job_id))
    assert code == 0, log
    rows = manifest(aws, sub.album_id)
    assert sorted(r["path"] for r in rows) == [f"IMG_{i:04d}.jpg" for i in range(6)]
    assert all(r["status"] == "ok" for r in rows)
    assert sorted(objects(aws, sub.album_id, "output/images/")) == [f"IMG_{i:04d}.jpg" for i in range(6)]
    zipped = aws.s3.get_object(Bucket=BUCKET, Key=f"albums/{sub.album_id}/output/album.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        names = zf.namelist()
    photos = [n for n in names if n.startswith("images/")]
    assert len(photos) == len(set(photos)) == 6 and len(names) == len(set(names))
    assert {"manifest.csv", "faces.csv", "index.html", "gallery-data.js"} <= set(names)


def test_a_rekognition_outage_fails_the_attempt_and_the_next_one_finishes(aws, tmp_path):
    album = write_album(
        tmp_path / "outage",
        {f"IMG_{i}.jpg": encode(gradient_image((320 + 10 * i, 240)), "JPEG") for i in range(4)},
    )
    sub = submit(aws, album, detector="rekognition", max_attempts=2, rekognition_concurrency=2)
    answered = threading.Lock()
    state = {"calls": 0}

    def first_call_only(_image: bytes) -> dict:
        with answered:
            state["calls"] += 1
            if state["calls"] > 1:
                raise FakeError("InternalServerError", "service is having a bad day", status=500)
        return detect_faces_response([])

    with FakeRekognition(first_call_only, latency=0.05) as fake:
        code, log = finish(start(aws, sub.shard_job_id, AWS_ENDPOINT_URL_REKOGNITION=fake.url))
    assert code == 75, log
    assert "InternalServerError" in log
    assert len(objects(aws, sub.album_id, "state/records/")) == 1  # only the photo that got an answer
    assert not objects(aws, sub.album_id, "shards/")

    with FakeRekognition(lambda _image: detect_faces_response([]), latency=0.05) as fake:
        code, log = finish(start(aws, sub.shard_job_id, attempt=2, AWS_ENDPOINT_URL_REKOGNITION=fake.url))
        assert fake.served == 3  # the three unfinished photos, not the finished one
    assert code == 0, log
    assert reused(log) == 1
    code, log = finish(start(aws, sub.finalize_job_id))
    assert code == 0, log
    rows = manifest(aws, sub.album_id)
    assert [(r["path"], r["status"], r["detector"]) for r in rows] == [
        (f"IMG_{i}.jpg", "no_faces", "rekognition") for i in range(4)
    ]
    summary = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"albums/{sub.album_id}/output/summary.json")["Body"].read()
    )
    assert (summary["photos"], summary["no_faces"], summary["job_id"]) == (4, 4, sub.finalize_job_id)


def test_the_last_attempt_keeps_what_it_finished_and_the_album_is_finalized(aws, tmp_path):
    album = write_album(
        tmp_path / "lastattempt",
        {f"IMG_{i}.jpg": encode(gradient_image((330 + 10 * i, 250)), "JPEG") for i in range(3)},
    )
    sub = submit(aws, album, detector="rekognition", max_attempts=1, rekognition_concurrency=1, workers=1)
    state = {"calls": 0}

    def throttled_after_one(_image: bytes) -> dict:
        state["calls"] += 1
        if state["calls"] > 1:
            raise FakeError("ThrottlingException", "Rate exceeded")
        return detect_faces_response([])

    # The job definition says 3 attempts: this is the last one.
    with FakeRekognition(throttled_after_one, latency=0.01) as fake:
        code, log = finish(start(aws, sub.shard_job_id, attempt=3, AWS_ENDPOINT_URL_REKOGNITION=fake.url))
    assert code == 0, log
    assert "last attempt (3 of 3)" in log
    code, log = finish(start(aws, sub.finalize_job_id))
    assert code == 0, log
    rows = {r["path"]: r for r in manifest(aws, sub.album_id)}
    assert len(rows) == 3
    assert sorted(r["status"] for r in rows.values()) == ["error", "error", "no_faces"]
    assert all(
        "resubmit" in r["reason"] and "ThrottlingException" in r["reason"]
        for r in rows.values()
        if r["status"] == "error"
    )


def test_configuration_faults_exit_2_and_are_not_retried(aws, tmp_path):
    album = write_album(tmp_path / "cfg", {"a.jpg": encode(gradient_image((400, 300)), "JPEG")})
    sub = submit(aws, album)
    code, log = finish(start(aws, sub.shard_job_id, AWS_BATCH_JOB_ARRAY_INDEX="5"))
    assert code == 2 and "shard 5 does not exist" in log
    code, log = finish(start(aws, sub.shard_job_id, MASKALBUM_ALBUM_ID=""))
    assert code == 2 and "MASKALBUM_ALBUM_ID" in log
    code, log = finish(start(aws, sub.shard_job_id, MASKALBUM_SEED="seven"))
    assert code == 2 and "seed" in log


def test_storage_faults_exit_74(aws, tmp_path):
    album = write_album(tmp_path / "s3down", {"a.jpg": encode(gradient_image((400, 320)), "JPEG")})
    sub = submit(aws, album)
    # Nothing listens on port 9 of localhost: every S3 call fails to connect.
    code, log = finish(start(aws, sub.shard_job_id, AWS_ENDPOINT_URL="http://127.0.0.1:9", MASKALBUM_MAX_ATTEMPTS="1"))
    assert code == 74, log
    code, log = finish(start(aws, sub.shard_job_id, MASKALBUM_ALBUM_ID="no_such_album-20260101-000000"))
    assert code == 74 and "no input manifest" in log


def test_worker_help_lists_the_exit_codes():
    result = subprocess.run([sys.executable, "-m", "batch_job", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0
    for code in ("74", "75", "76", "77", "MASKALBUM_ALBUM_ID", "AWS_BATCH_JOB_ARRAY_INDEX"):
        assert code in result.stdout


def test_resubmitting_reuses_the_album_and_drops_results_of_shards_that_no_longer_exist(aws, tmp_path):
    album = write_album(
        tmp_path / "resub", {f"{i}.jpg": encode(gradient_image((200 + i, 150)), "JPEG") for i in range(3)}
    )
    first = submit(aws, album, shard_size=1)
    for index in range(first.shards):  # as if every child had finished
        for suffix in (".csv", "-faces.csv"):
            aws.s3.put_object(Bucket=BUCKET, Key=f"albums/{first.album_id}/shards/{index:05d}{suffix}", Body=b"path\n")
    again = submit(aws, album, shard_size=2)
    assert again.album_id == first.album_id
    assert (again.upload.uploaded, again.upload.skipped) == (0, 3)
    assert sorted(objects(aws, again.album_id, "shards/")) == [
        "00000-faces.csv",
        "00000.csv",
        "00001-faces.csv",
        "00001.csv",
    ]


def test_finalize_sends_the_line_notification_when_asked(aws, tmp_path):
    from testing.line_fakes import PUSH, running

    album = write_album(tmp_path / "line", {"IMG_1.jpg": scene_jpeg([PersonSpec(170)], size=(640, 480), seed=61)})
    user = "U" + "1" * 32
    with running("line-token") as line:
        sub = submit(aws, album, notify_line=user, line_api_url=line.url)
        code, log = finish(start(aws, sub.shard_job_id))
        assert code == 0, log
        # The token is a secret, never a setting: in Batch it comes from the job definition's secrets or an ARN.
        # As Batch injects a bare secret ARN: the whole JSON secret of docs/LINE.md, not the key alone.
        whole = json.dumps({"LINE_CHANNEL_ACCESS_TOKEN": "line-token", "LINE_CHANNEL_SECRET": "channel-secret"})
        code, log = finish(start(aws, sub.finalize_job_id, LINE_CHANNEL_ACCESS_TOKEN=whole))
        assert code == 0, log
        pushes = line.wait_for(PUSH)
    summary = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"albums/{sub.album_id}/output/summary.json")["Body"].read()
    )
    assert summary["notify"].startswith("sent")
    assert pushes[0].json["to"] == user
    text = pushes[0].json["messages"][0]["text"]
    assert sub.album_id in text
