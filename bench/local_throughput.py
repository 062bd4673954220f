"""Local throughput: `maskalbum run` end to end against the decode + encode floor, in one run.

    python -m bench.local_throughput [--photos 100] [--workers 2] [--rss-photos 1000]

1. Generates phone-size photos (4032 x 3024 JPEG, quality 90, 4:2:0) with 1-6
   masked people each (testing/synth.py), cached in bench/out/phone12mp/.
2. (a) The floor: decode + EXIF transpose + encode every photo with the same
   settings maskalbum uses (source quantisation tables and subsampling), in a
   process pool of the same size - what no tool that rewrites the photos can beat.
3. (b) `maskalbum run` on the same photos, end to end (process start included).
4. Peak RSS of the whole process tree (parent + workers), sampled from /proc,
   for a run over --rss-photos photos (the cached ones, repeated under new names).

Also (c): the floor plus face detection and landmarks only (no painting) -
the ceiling the two models leave for (b). Prints photos/s for (a), (b) and (c),
the ratios, and the peak RSS. Record the
output in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from batch_job.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / "out" / "phone12mp"
SIZE = (4032, 3024)


def _make_photo(i: int) -> None:
    from testing.synth import make_scene, random_people

    path = CACHE / f"IMG_{i:04d}.jpg"
    if path.exists():
        return
    rng = np.random.default_rng(1000 + i)
    people = random_people(rng, int(rng.integers(1, 7)), widths=(160, 700))
    scene = make_scene(people, size=SIZE, seed=2000 + i)
    tmp = path.with_suffix(".tmp")
    scene.image.save(tmp, "JPEG", quality=90, subsampling="4:2:0")
    os.replace(tmp, path)


def ensure_photos(count: int, workers: int) -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(count) if not (CACHE / f"IMG_{i:04d}.jpg").exists()]
    if missing:
        print(f"generating {len(missing)} phone-size photos in {CACHE} ...", flush=True)
        with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_make_photo, missing))
    return [CACHE / f"IMG_{i:04d}.jpg" for i in range(count)]


def _decode_encode(path: str) -> int:
    from batch_job.imaging import Photo, encode

    data = Path(path).read_bytes()
    photo = Photo(data)
    image = photo.full()
    out = encode(image, photo.encode_settings())
    return len(out)


_DETECTOR = None


def _decode_detect_encode(path: str) -> int:
    """The floor plus face detection and landmarks (the models alone, no painting)."""
    global _DETECTOR
    from batch_job.detect.local import LocalDetector
    from batch_job.imaging import Photo, encode

    if _DETECTOR is None:
        _DETECTOR = LocalDetector()
    photo = Photo(Path(path).read_bytes())
    _DETECTOR.detect(photo)
    return len(encode(photo.full(), photo.encode_settings()))


def floor(photos: list[Path], workers: int, job=_decode_encode) -> float:
    """Photos per second for decode + encode only (or another per-photo ``job``)."""
    started = time.perf_counter()
    with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(job, [str(p) for p in photos], chunksize=1))
    return len(photos) / (time.perf_counter() - started)


class RssSampler(threading.Thread):
    """Peak summed RSS of a process and all its descendants, sampled from /proc."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self._halt = pid, interval, 0, threading.Event()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as fh:
                        todo.extend(int(c) for c in fh.read().split())
            except OSError:
                pass
        return pids

    def run(self) -> None:
        while not self._halt.is_set():
            total = 0
            for pid in self._tree():
                try:
                    with open(f"/proc/{pid}/status") as fh:
                        for line in fh:
                            if line.startswith("VmRSS:"):
                                total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_maskalbum(album: Path, workers: int, detect_size: int | None = None) -> tuple[float, int, float]:
    """(seconds, peak RSS bytes, photos) for a fresh `maskalbum run` of ``album``."""
    out = album.parent / (album.name + "-masked")
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", str(album), "--out", str(out), "--workers", str(workers), "--json"]
        + (["--detect-size", str(detect_size)] if detect_size else []),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    sampler = RssSampler(proc.pid)
    sampler.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    import json

    summary = json.loads(stdout)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"maskalbum run failed with {proc.returncode}")
    return seconds, sampler.peak, summary["photos"]


def link_album(photos: list[Path], count: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        src = photos[i % len(photos)]
        dst = folder / f"{i // 100:02d}" / f"P{i:05d}.jpg"
        dst.parent.mkdir(exist_ok=True)
        if not dst.exists():
            os.link(src, dst)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rss-photos", type=int, default=1000, help="0 to skip the memory run")
    parser.add_argument("--detect-size", type=int, default=None, help="passed to maskalbum run (default 2048)")
    args = parser.parse_args()
    photos = ensure_photos(args.photos, args.workers)
    mb = sum(p.stat().st_size for p in photos) / 1e6
    detect_size = args.detect_size or Settings.detect_long_side
    print(f"{len(photos)} photos, {SIZE[0]}x{SIZE[1]}, {mb:.0f} MB, {args.workers} workers, detect size {detect_size}")
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "out") as tmp:
        album = link_album(photos, len(photos), Path(tmp) / "album")
        floor_rate = floor(photos, args.workers)
        seconds, peak, count = run_maskalbum(album, args.workers, args.detect_size)
        run_rate = count / seconds
        print(f"(a) decode + encode floor : {floor_rate:6.2f} photos/s")
        print(f"(b) maskalbum run         : {run_rate:6.2f} photos/s  (peak RSS {peak / 2**20:.0f} MiB)")
        print(f"ratio (b)/(a)             : {run_rate / floor_rate:6.2f}  (target >= 0.5)")
        # What the two models alone allow: no painting, no CSVs, no zip.
        models_rate = floor(photos, args.workers, _decode_detect_encode)
        print(
            f"(c) floor + detection only: {models_rate:6.2f} photos/s  "
            f"(ratio {models_rate / floor_rate:.2f}: the ceiling CenterFace + FaceMesh leave)"
        )
        if args.rss_photos:
            big = link_album(photos, args.rss_photos, Path(tmp) / "big")
            seconds, peak, count = run_maskalbum(big, args.workers, args.detect_size)
            print(
                f"{count} photos: {count / seconds:.2f} photos/s, peak RSS {peak / 2**20:.0f} MiB (target < 1536 MiB)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
