"""End to end on moto's server: register, submit from the CLI, run every Batch container as its own
process with the environment Batch would give it, then status, download and albums.

The result must be the same album a local ``maskalbum run`` makes: same photos byte for byte, same
manifest and faces rows (but the timing column).
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from cli.app import app
from testing.aws_fakes import batch_container, moto_account, process_env, write_album
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec

BUCKET = "maskalbum-e2e"
SEED = "7"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def aws():
    with moto_account(BUCKET) as account:
        yield account


@pytest.fixture(scope="module")
def album(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("e2e") / "Chōshi trip"
    return write_album(
        root,
        {
            "beach/IMG_0001.jpg": scene_jpeg(
                [PersonSpec(150), PersonSpec(130, asset=1, colour="paleblue")], size=(800, 600), seed=11
            ),
            "beach/IMG_0002.jpg": scene_jpeg(
                [PersonSpec(170, asset=1), PersonSpec(120, masked=False)], size=(800, 600), seed=12
            ),
            "銚子 旅行/写真 3.jpg": scene_jpeg([PersonSpec(160, yaw=20)], size=(640, 800), seed=13),
            "IMG_0004.png": encode(decoded(scene_jpeg([PersonSpec(140, asset=1)], size=(700, 500), seed=14)), "PNG"),
            "sky.jpg": encode(gradient_image((640, 480)), "JPEG", quality=90),
            "notes.txt": b"packing list: masks\n",
            "broken.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
        },
    )


def decoded(data: bytes):
    from PIL import Image

    return Image.open(io.BytesIO(data)).convert("RGB")


def cli(*args: str) -> SimpleNamespace:
    result = CliRunner().invoke(app, list(args))
    return SimpleNamespace(code=result.exit_code, out=result.stdout, all=result.output)


def run_container(aws, job_id: str, index: int | None = None, attempt: int = 1) -> subprocess.Popen:
    """Start the worker the way Batch would start the container of ``job_id``."""
    command, env = batch_container(aws.batch, job_id, index, attempt)
    # In Batch the job role supplies credentials; here moto's dummy ones do.
    env = process_env({**aws.env, **env})
    return subprocess.Popen(
        [sys.executable, "-m", "batch_job", *command], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def run_jobs(aws, submission: dict) -> dict[str, str]:
    """Every array child (in parallel, as Batch would), then the finalize job; their logs by name."""
    children = range(submission["shards"]) if submission["array"] else [None]
    procs = {f"shard {i}": run_container(aws, submission["shard_job_id"], i) for i in children}
    logs = {name: p.communicate(timeout=120)[0] for name, p in procs.items()}
    for name, p in procs.items():
        assert p.returncode == 0, f"{name} exited {p.returncode}:\n{logs[name]}"
    final = run_container(aws, submission["finalize_job_id"])
    logs["finalize"] = final.communicate(timeout=120)[0]
    assert final.returncode == 0, logs["finalize"]
    return logs


def manifest_rows(data: bytes) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    for row in rows:
        row.pop("ms")
    return rows


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture(scope="module")
def local_run(album, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    result = cli("run", str(album), "--out", str(out), "--seed", SEED, "--detector", "local", "--json")
    assert result.code == 1, result.all  # broken.jpg is an error row
    return out


@pytest.fixture(scope="module")
def submitted(aws, album) -> dict:
    first = cli("register-job-definition", "--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/maskalbum:test",
                "--job-role-arn", aws.role, "--execution-role-arn", aws.role)  # fmt: skip
    assert first.code == 0, first.all
    again = cli("register-job-definition", "--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/maskalbum:test",
                "--job-role-arn", aws.role, "--execution-role-arn", aws.role)  # fmt: skip
    assert again.out.startswith("reused: ") and again.out.split()[-1] == first.out.split()[-1]
    result = cli(
        "submit", str(album), "--bucket", BUCKET, "--job-queue", aws.queue, "--job-definition", "maskalbum",
        "--shard-size", "3", "--seed", SEED, "--detector", "local", "--json",
    )  # fmt: skip
    assert result.code == 0, result.all
    return json.loads(result.out)


def test_submit_uploads_the_album_and_an_array_job(aws, submitted, album):
    assert submitted["album_id"].startswith("choshi_trip-")
    assert (submitted["shards"], submitted["array"], submitted["files"]) == (3, True, 7)
    assert submitted["upload"]["uploaded"] == 7
    prefix = f"albums/{submitted['album_id']}/input/"
    listed = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]
    assert sorted(o["Key"][len(prefix) :] for o in listed) == sorted(
        p.relative_to(album).as_posix() for p in album.rglob("*") if p.is_file()
    )
    head = aws.s3.head_object(Bucket=BUCKET, Key=prefix + "銚子 旅行/写真 3.jpg")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "image/jpeg"
    assert len(head["Metadata"]["sha256"]) == 64
    manifest = json.loads(
        aws.s3.get_object(Bucket=BUCKET, Key=f"albums/{submitted['album_id']}/input.json")["Body"].read()
    )
    assert [f["key"] for f in manifest["files"]] == sorted(f["key"] for f in manifest["files"])


def test_batch_run_equals_the_local_run(aws, submitted, local_run, tmp_path):
    logs = run_jobs(aws, submitted)
    assert "LINE" not in logs["finalize"]  # no notify_line: no notification attempted

    # The album id alone: submit recorded its bucket and region on this machine.
    status = cli("status", submitted["album_id"], "--json")
    assert status.code == 0, status.all
    state = json.loads(status.out)
    assert state["state"] == "done"
    assert (
        state["summary"]["files"],
        state["summary"]["photos"],
        state["summary"]["error"],
        state["summary"]["skipped"],
    ) == (7, 6, 1, 1)

    got = cli("download", submitted["album_id"], "--dest", str(tmp_path), "--extract")
    assert got.code == 0, got.all
    cloud = zip_members(tmp_path / f"{submitted['album_id']}.zip")
    local = zip_members(next(local_run.glob("*.zip")))
    assert sorted(cloud) == sorted(local)
    images = [n for n in local if n.startswith("images/")]
    assert len(images) == 5  # every photo, edited or copied; not the text file or the broken one
    for name in images:
        assert cloud[name] == local[name], name
    assert manifest_rows(cloud["manifest.csv"]) == manifest_rows(local["manifest.csv"])
    assert cloud["faces.csv"] == local["faces.csv"]
    masked = [r for r in manifest_rows(cloud["manifest.csv"]) if int(r["faces_masked"])]
    assert len(masked) >= 3  # the synthetic masked people really got monster masks
    extracted = tmp_path / submitted["album_id"]
    assert (extracted / "images" / "銚子 旅行" / "写真 3.jpg").read_bytes() == local["images/銚子 旅行/写真 3.jpg"]

    listing = cli("albums", "--json")
    assert listing.code == 0, listing.all
    row = next(a for a in json.loads(listing.out) if a["album_id"] == submitted["album_id"])
    assert (row["state"], row["files"], row["errors"]) == ("done", 7, 1)
    assert row["age"]


def test_resubmit_uploads_nothing_and_wait_downloads(aws, submitted, album, tmp_path):
    # --wait in its own process, as a user runs it; this test plays Batch meanwhile.
    waiting = subprocess.Popen(
        [sys.executable, "-m", "cli", "submit", str(album), "--bucket", BUCKET, "--job-queue", aws.queue,
         "--job-definition", "maskalbum", "--shard-size", "3", "--seed", SEED,
            "--detector", "local", "--wait", "--dest", str(tmp_path),
         "--json", "--poll-seconds", "0.3"],
        env=process_env(aws.env), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    key = f"albums/{submitted['album_id']}/submission.json"
    deadline = time.monotonic() + 60
    while True:
        record = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        if record["jobs"]["finalize"] != submitted["finalize_job_id"]:
            break
        assert time.monotonic() < deadline and waiting.poll() is None, waiting.communicate()
        time.sleep(0.2)
    again = {"shards": record["shards"], "array": record["array"],
             "shard_job_id": record["jobs"]["shards"], "finalize_job_id": record["jobs"]["finalize"]}  # fmt: skip
    logs = run_jobs(aws, again)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 1, err  # done, and broken.jpg is an error row
    result = json.loads(out)
    assert result["submission"]["album_id"] == submitted["album_id"]
    assert (result["submission"]["upload"]["uploaded"], result["submission"]["upload"]["skipped"]) == (0, 7)
    assert result["status"]["state"] == "done"
    for name, log in logs.items():
        if name.startswith("shard"):  # nothing changed: every photo of every shard is reused
            files, reused = map(int, re.search(r"done: (\d+) files, (\d+) reused", log).groups())
            assert files == reused > 0, log
    with zipfile.ZipFile(tmp_path / f"{submitted['album_id']}.zip") as zf:
        assert zf.testzip() is None
        assert len([n for n in zf.namelist() if n.startswith("images/")]) == 5


def test_cancel_stops_the_jobs_and_marks_the_album(aws, submitted, tmp_path):
    album = write_album(tmp_path / "to cancel", {"a.jpg": scene_jpeg([PersonSpec(150)], size=(640, 480), seed=31)})
    result = cli(
        "submit", str(album), "--bucket", BUCKET, "--job-queue", aws.queue, "--job-definition", "maskalbum", "--json",
    )  # fmt: skip
    assert result.code == 0, result.all
    album_id = json.loads(result.out)["album_id"]
    cancelled = cli("cancel", album_id, "--json")
    assert cancelled.code == 0, cancelled.all
    answer = json.loads(cancelled.out)
    assert answer["album_id"] == album_id and len(answer["stopped"]) + len(answer["already_finished"]) == 2
    status = json.loads(cli("status", album_id, "--json").out)
    assert status["state"] == "cancelled"
    assert cli("download", album_id).code == 2  # nothing to download: a usage error, not a crash
    logs = cli("logs", album_id)
    assert logs.code == 0, logs.all
