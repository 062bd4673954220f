"""The rest of "nothing lost": console markup in names, SIGTERM, --workers caps, orphans, honest notes, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from batch_job.runner import WORKER_MEMORY, plan_workers
from batch_job.settings import Settings
from cli.app import app
from testing.helpers import encode, gradient_image, scene_jpeg
from testing.synth import PersonSpec

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _png(seed: int = 0) -> bytes:
    return encode(gradient_image((100 + seed, 80)), "PNG")


def test_square_brackets_in_names_are_printed_as_they_are(tmp_path: Path):
    album = tmp_path / "Mt Fuji [sunset]"
    album.mkdir()
    (album / "Mt Fuji [sunset] 1.png").write_bytes(_png())
    (album / "[").mkdir()  # the path "[/] [bold]broken.jpg": a closing tag once printed as markup
    (album / "[" / "] [bold]broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    result = runner.invoke(app, ["run", str(album), "--out", str(tmp_path / "out [x]"), "--workers", "1"])
    assert result.exit_code == 1, result.output
    text = result.output
    assert "maskalbum: Mt Fuji [sunset]" in text
    assert "[/] [bold]broken.jpg:" in text  # the error line shows the name, no MarkupError
    assert "out [x]/Mt Fuji [sunset]-masked.zip" in text.replace("\n", "")
    # A usage error quoting such a name too.
    missing = runner.invoke(app, ["run", str(tmp_path / "[red]gone[/]"), "--workers", "1"])
    assert missing.exit_code == 2 and "[red]gone[/]" in missing.output


def _spawn(album: Path, out: Path, workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "run", str(album), "--out", str(out), "--workers", str(workers), "--json"],
        env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def slow_album(tmp_path_factory) -> Path:
    album = tmp_path_factory.mktemp("term") / "a"
    album.mkdir()
    for i in range(6):
        (album / f"p{i}.jpg").write_bytes(scene_jpeg([PersonSpec(160, asset=i % 2)], size=(800, 600), seed=400 + i))
    return album


@pytest.mark.parametrize("target", ["parent", "group"])
def test_sigterm_stops_like_ctrl_c_and_resumes(slow_album: Path, tmp_path: Path, target: str):
    # docker stop and AWS Batch signal the main process; systemd signals the whole group.
    out = tmp_path / "o"
    proc = _spawn(slow_album, out)
    records = out / ".maskalbum" / "records"
    deadline = time.time() + 120
    while time.time() < deadline and (not records.exists() or not list(records.glob("*.json"))):
        time.sleep(0.05)
    if target == "parent":
        os.kill(proc.pid, signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    text = stderr.decode()
    assert proc.returncode == 143, text
    assert "terminated (SIGTERM)" in text and "resume" in text
    assert "leaked semaphore" not in text and "Traceback" not in text
    assert not [p for p in out.rglob("*") if ".maskalbum-tmp-" in p.name]
    assert (out / ".maskalbum" / "lock").read_text() == ""
    again = _spawn(slow_album, out)
    stdout, _ = again.communicate(timeout=300)
    summary = json.loads(stdout)
    assert again.returncode == 0 and summary["ok"] == 6 and summary["resumed"] >= 1


def test_workers_are_capped_by_cores_memory_and_photos():
    asked = Settings(workers=1000)
    assert plan_workers(asked, 23, memory=64 << 30, cores=2) == (2, "--workers 1000 capped to 2 (2 CPU cores)")
    n, why = plan_workers(asked, 23, memory=3 * WORKER_MEMORY + 1, cores=64)
    assert n == 3 and "GiB of memory free" in why
    assert plan_workers(asked, 5, memory=64 << 30, cores=64)[0] == 5  # never more than photos
    assert plan_workers(Settings(), 100, memory=64 << 30, cores=4) == (4, "")  # the default says nothing
    assert plan_workers(Settings(workers=8, detector="rekognition"), 100, memory=64 << 30, cores=2)[0] == 8
    assert plan_workers(asked, 10, memory=0, cores=8)[0] == 1  # at least one


def test_workers_1000_runs_with_the_cap_and_says_so(tmp_path: Path):
    album = tmp_path / "a"
    album.mkdir()
    for i in range(3):
        (album / f"p{i}.png").write_bytes(_png(i))
    result = runner.invoke(app, ["run", str(album), "--out", str(tmp_path / "o"), "--workers", "1000", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert 1 <= summary["workers"] <= min(3, len(os.sched_getaffinity(0)))
    assert any("--workers 1000 capped to" in n for n in summary["notices"])


def test_outputs_of_removed_photos_leave_images_and_the_zip(tmp_path: Path):
    album = tmp_path / "album"
    (album / "day").mkdir(parents=True)
    for name in ("keep.png", "day/gone.png", "gone2.png"):
        (album / name).write_bytes(_png(len(name)))
    out = tmp_path / "out"
    runner.invoke(app, ["run", str(album), "--out", str(out), "--workers", "1"])
    assert (out / "images/day/gone.png").exists()
    (album / "day/gone.png").unlink()
    (album / "gone2.png").unlink()
    result = runner.invoke(app, ["run", str(album), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "removed from images/: 2 output(s) of photos no longer in the album" in result.output
    assert sorted(p.relative_to(out / "images").as_posix() for p in (out / "images").rglob("*")) == ["keep.png"]
    with zipfile.ZipFile(out / "album-masked.zip") as zf:
        names = zf.namelist()
    assert sorted(n for n in names if not n.startswith("thumbs/")) == [
        "faces.csv", "gallery-data.js", "images/keep.png", "index.html", "manifest.csv"
    ]  # fmt: skip
    assert not [n for n in names if "gone" in n]  # nor the removed photos' thumbnails
    assert not [p for p in (out / "thumbs").rglob("*") if "gone" in p.name]  # on disk either
    assert len(list((out / ".maskalbum/records").glob("*.json"))) == 1
    again = json.loads(runner.invoke(app, ["run", str(album), "--out", str(out), "--workers", "1", "--json"]).stdout)
    assert again["orphans_removed"] == 0 and again["resumed"] == 1


def test_notes_only_say_what_was_done(ctx, tmp_path: Path):
    from batch_job.pipeline import process_photo

    plain = gradient_image((160, 120))
    for image, word in ((plain.convert("CMYK"), "CMYK"), (plain.convert("L").convert("I;16"), "16-bit")):
        data = encode(image, "JPEG" if image.mode == "CMYK" else "PNG")
        result = process_photo("p", data, ctx)
        assert result.copy_source and result.row.status == "no_faces"
        assert word not in result.row.notes  # copied byte for byte: nothing was converted


def test_gallery_and_mask_file_errors_are_messages(tmp_path: Path):
    unknown = runner.invoke(app, ["masks", "--gallery", str(tmp_path / "sheet.xyz")])
    assert unknown.exit_code == 2 and "unknown image extension '.xyz'" in unknown.output
    blocker = tmp_path / "file"
    blocker.write_text("x")
    unwritable = runner.invoke(app, ["masks", "--gallery", str(blocker / "sheet.png")])
    assert unwritable.exit_code == 3 and f"{blocker} is a file" in unwritable.output.replace("\n", "")
    album = tmp_path / "a"
    album.mkdir()
    bad = tmp_path / "mask.png"
    bad.write_bytes(b"not a picture")
    result = runner.invoke(app, ["run", str(album), "--mask-file", str(bad)])
    assert result.exit_code == 2
    assert "is not an image Pillow can read" in result.output and "BytesIO" not in result.output
