"""The output folder: one run at a time (a lock that names its holder), and every way writing it can fail.

Failures are made for real where the machine allows: a file in the way, a
read-only tmpfs, a tiny full tmpfs, a folder another user cannot write (run
as ``nobody``). Mounting needs root; without it those tests skip and the
injected-error test still covers the path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from batch_job.lock import hold
from cli.app import app
from testing.helpers import encode, gradient_image

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _run(album: Path, out: Path, *args: str):
    return runner.invoke(app, ["run", str(album), "--out", str(out), "--workers", "1", *args], catch_exceptions=False)


@pytest.fixture
def album(tmp_path: Path) -> Path:
    root = tmp_path / "album"
    root.mkdir()
    for i in range(3):
        (root / f"p{i}.png").write_bytes(encode(gradient_image((120 + i, 90)), "PNG"))
    return root


def _noise_png(seed: int, side: int = 200) -> bytes:
    """~120 KB that no compressor shrinks, and no face in it."""
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    from PIL import Image

    return encode(Image.fromarray(pixels, "RGB"), "PNG")


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# -- the lock -------------------------------------------------------------------------------


def test_a_second_run_says_who_holds_the_folder_and_exits_3(album: Path, tmp_path: Path):
    out = tmp_path / "out"
    with hold(out):
        result = _run(album, out)
    assert result.exit_code == 3
    assert f"pid {os.getpid()} on {socket.gethostname()}" in result.output and "in use" in result.output
    assert not (out / "images").exists()  # nothing touched
    assert _run(album, out).exit_code == 0  # released: the next run goes


def test_two_real_runs_into_one_folder(album: Path, tmp_path: Path):
    for i in range(3, 12):
        (album / f"p{i}.png").write_bytes(_noise_png(i, 400))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "cli", "run", str(album), "--out", str(out), "--workers", "1", "--json"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not (out / ".maskalbum" / "lock").exists():
        time.sleep(0.05)
    while time.time() < deadline and not (out / ".maskalbum" / "lock").read_bytes():
        time.sleep(0.05)
    second = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    stdout, stderr = first.communicate(timeout=300)
    assert second.returncode == 3, second.stderr.decode()
    assert f"pid {first.pid}" in second.stderr.decode()
    assert first.returncode == 0, stderr.decode()
    assert json.loads(stdout)["photos"] == 12
    assert (out / "album-masked.zip").stat().st_size > 0


def test_a_lock_left_by_a_killed_run_is_taken_over(album: Path, tmp_path: Path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from batch_job.lock import hold\n"
         "with hold(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(600)", str(out)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout.readline() == b"held\n"
    assert _run(album, out).exit_code == 3
    holder.send_signal(signal.SIGKILL)  # no cleanup: the file still names it
    holder.wait()
    assert str(holder.pid) in (out / ".maskalbum" / "lock").read_text()
    result = _run(album, out)
    assert result.exit_code == 0, result.output
    assert f"took over the lock of a run that no longer runs (pid {holder.pid}" in result.output
    assert (out / ".maskalbum" / "lock").read_text() == ""  # cleared on the way out


# -- failures to create or write the output ------------------------------------------------


def test_a_file_in_the_way(album: Path, tmp_path: Path):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "sub" / "out"):
        result = _run(album, out)
        assert result.exit_code == 3, result.output
        assert "cannot create the output folder" in result.output and f"{blocker} is a file" in result.output
    assert blocker.read_text() == "not a folder"


def test_a_read_only_file_system(album: Path, tmp_path: Path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        result = _run(album, ro / "deep" / "out")  # the missing parents cannot be made either
        assert result.exit_code == 3
        assert "Read-only file system" in result.output and "choose another --out" in result.output


def test_permission_denied(album: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "theirs"
    out.mkdir()
    if os.geteuid() != 0:
        os.chmod(out, 0o555)  # a folder we may not write in
    else:
        # Root writes anywhere; the kernel's answer to anyone else is EACCES: give it here.
        real_open = os.open

        def denied(path, flags, *args, **kw):
            if str(path).startswith(str(out)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_open(path, flags, *args, **kw)

        monkeypatch.setattr(os, "open", denied)
    result = _run(album, out)
    assert result.exit_code == 3, result.output
    assert "Permission denied (permission denied: choose another --out" in result.output
    assert "Traceback" not in result.output


def test_a_full_disk_mid_run_keeps_the_rows_so_far_and_resumes(tmp_path: Path):
    album = tmp_path / "album"
    album.mkdir()
    for i in range(6):
        (album / f"p{i}.png").write_bytes(_noise_png(i))
    size = (album / "p0.png").stat().st_size
    # Room for two photos (+ their ~25 KB thumbnails and records), not a third: the disk fills mid-run.
    room = int(size * 2.6) + 2 * 32768
    with tmpfs(tmp_path / "small", f"size={room // 4096 * 4096 + 4096}") as small:
        out = small / "out"
        result = _run(album, out)
        assert result.exit_code == 3, result.output
        assert "No space left on device" in result.output and "rerun" in result.output
        assert "Traceback" not in result.output
        rows = pd.read_csv(out / "manifest.csv", keep_default_na=False)
        assert 1 <= len(rows) < 6  # the rows finished so far
        for output in rows["output"]:
            assert (out / "images" / output).read_bytes() == (album / output).read_bytes()
        assert not [p for p in out.rglob("*") if ".maskalbum-tmp-" in p.name]
        subprocess.run(["mount", "-o", "remount,size=8m", str(small)], check=True)
        again = _run(album, out, "--json")
        assert again.exit_code == 0
        summary = json.loads(again.stdout)
        assert summary["photos"] == 6 and summary["resumed"] == len(rows)


def test_an_injected_write_error_is_a_clear_message(album: Path, tmp_path: Path, monkeypatch):
    # The same path without root: the disk "fills" on the third image written (the lock, the
    # thumbnails and the records written before it go through).
    images = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd):
        if "/images/" in os.readlink(f"/proc/self/fd/{fd}"):
            images["n"] += 1
            if images["n"] == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    out = tmp_path / "out"
    result = _run(album, out)
    assert result.exit_code == 3, result.output
    assert "No space left on device (the disk is full: free space and rerun to resume)" in result.output
    assert len(pd.read_csv(out / "manifest.csv")) == 2
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _run(album, out).exit_code == 0
    shutil.rmtree(out)
