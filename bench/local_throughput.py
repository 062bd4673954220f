"""Local throughput: `maskalbum run` end to end against the decode + encode floor, in one run.

    python -m bench.local_throughput [--photos 24] [--workers 2] [--repeat 3]
        [--from /work/devset] [--modes synthetic,real,album] [--breakdown]
        [--deface /tmp/deface-venv/bin/deface] [--rss-photos 1000]

Modes (each one: the floor and `maskalbum run` on the same photos, same pool size, same run):
  synthetic  phone-size photos (4032 x 3024 JPEG q90 4:2:0) with 1-6 masked people each
             (testing/synth.py): the worst case, cached in bench/out/phone12mp/.
  real       real photos with at least one masked face (labels/*.txt class 1 when --from DIR
             has labels/ beside images/), scaled to 4032 px on the long side (JPEG q90 4:2:0),
             cached in bench/out/real4032/ (never committed).
  album      20 photos of which 8 have no masked face: from --from DIR when given (12 masked,
             8 with bare faces only), else synthetic (12 of the above, 8 scenes of unmasked people).

(a) The floor: decode + EXIF transpose + encode every photo with the settings maskalbum uses
(source quantisation tables and subsampling), in a process pool of the same size - what no tool
that rewrites the photos can beat. (b) `maskalbum run` end to end (process start included).
Their ratio is the figure of record; --repeat N prints every run and the spread.

--breakdown: the photos run in this process (one worker, stages.enable()): seconds per photo and
per face for every stage mark (batch_job/stages.py); marks nest and count their own time only, so
the stages add up to the run. --deface: deface --scale 1600x1200 over the same photos, same run.
--rss-photos: peak RSS of the whole process tree (parent + workers), sampled from /proc, for a run
over that many photos (the cached ones, repeated under new names). --worker-memory N: one worker
in this process over N photos of the first mode: the highest RSS per stage, RSS between photos
as the album goes on (what grows with it), and the bytes its caches hold. Record the output in
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from batch_job.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
CACHE = OUT / "phone12mp"
SIZE = (4032, 3024)
REAL_LONG_SIDE = 4032
ALBUM_PHOTOS, ALBUM_UNMASKED = 20, 8


# -- photos ------------------------------------------------------------------------------------
def _make_photo(i: int, masked: bool = True) -> Path:
    from testing.synth import make_scene, random_people

    path = CACHE / (f"IMG_{i:04d}.jpg" if masked else f"BARE_{i:04d}.jpg")
    if path.exists():
        return path
    rng = np.random.default_rng(1000 + i if masked else 5000 + i)
    people = random_people(rng, int(rng.integers(1, 7)), widths=(160, 700), masked_fraction=1.0 if masked else 0.0)
    scene = make_scene(people, size=SIZE, seed=2000 + i if masked else 6000 + i)
    tmp = path.with_suffix(".tmp")
    scene.image.save(tmp, "JPEG", quality=90, subsampling="4:2:0")
    os.replace(tmp, path)
    return path


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def ensure_photos(count: int, workers: int, masked: bool = True) -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = [CACHE / (f"IMG_{i:04d}.jpg" if masked else f"BARE_{i:04d}.jpg") for i in range(count)]
    missing = [i for i, p in enumerate(paths) if not p.exists()]
    if missing:
        print(f"generating {len(missing)} phone-size photos in {CACHE} ...", flush=True)
        with _pool(workers) as pool:
            list(pool.map(functools.partial(_make_photo, masked=masked), missing))
    return paths


def _labelled(folder: Path) -> tuple[list[Path], list[Path]]:
    """(photos with a masked face, photos without one) of a folder; labels/ beside images/ decides."""
    images = folder / "images" if (folder / "images").is_dir() else folder
    labels = images.parent / "labels"
    photos = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not labels.is_dir():
        return photos, []
    masked, other = [], []
    for photo in photos:
        label = labels / (photo.stem + ".txt")
        rows = label.read_text().split("\n") if label.exists() else []
        (masked if any(r.startswith("1 ") for r in rows) else other).append(photo)
    return masked, other


def _scale_photo(src: str, dst: str) -> None:
    from PIL import Image, ImageOps

    with Image.open(src) as image:
        image = ImageOps.exif_transpose(image).convert("RGB")
        k = REAL_LONG_SIDE / max(image.size)
        image = image.resize((round(image.width * k), round(image.height * k)), Image.Resampling.LANCZOS)
        tmp = dst + ".tmp"
        image.save(tmp, "JPEG", quality=90, subsampling="4:2:0")
        os.replace(tmp, dst)


def scaled_photos(photos: list[Path], workers: int) -> list[Path]:
    """``photos`` scaled to REAL_LONG_SIDE, cached by source path and size (re-runs decode nothing new)."""
    folder = OUT / "real4032"
    folder.mkdir(parents=True, exist_ok=True)
    out, todo = [], []
    for photo in photos:
        stat = photo.stat()
        tag = hashlib.sha1(f"{photo.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:10]
        dst = folder / f"{photo.stem}-{tag}.jpg"
        out.append(dst)
        if not dst.exists():
            todo.append((str(photo), str(dst)))
    if todo:
        print(f"scaling {len(todo)} photos to {REAL_LONG_SIDE} px in {folder} ...", flush=True)
        with _pool(workers) as pool:
            list(pool.map(_scale_photo, *zip(*todo, strict=True)))
    return out


def _spread(picks: list[Path], count: int) -> list[Path]:
    """``count`` photos spread evenly over ``picks`` (a fixed choice, not the first few of one source)."""
    if count >= len(picks):
        return picks
    return [picks[round(i * len(picks) / count)] for i in range(count)]


@dataclass
class Mode:
    name: str
    photos: list[Path]
    what: str


def build_modes(args: argparse.Namespace) -> list[Mode]:
    modes = []
    names = args.modes.split(",")
    real_masked = real_other = []
    if args.source:
        real_masked, real_other = _labelled(Path(args.source))
    for name in names:
        if name == "synthetic":
            photos = ensure_photos(args.photos, args.workers)
            modes.append(Mode(name, photos, f"{len(photos)} synthetic 4032x3024 photos, 1-6 masked people each"))
        elif name == "real":
            if not args.source:
                continue
            photos = scaled_photos(_spread(real_masked, args.photos), args.workers)
            modes.append(Mode(name, photos, f"{len(photos)} real photos with a masked face from {args.source}, "
                                            f"scaled to {REAL_LONG_SIDE} px"))  # fmt: skip
        elif name == "album":
            masked_n = ALBUM_PHOTOS - ALBUM_UNMASKED
            if args.source and len(real_other) >= ALBUM_UNMASKED:
                masked = scaled_photos(_spread(real_masked, masked_n), args.workers)
                other = scaled_photos(_spread(real_other, ALBUM_UNMASKED), args.workers)
                what = f"real, from {args.source}: {masked_n} with a masked face, {ALBUM_UNMASKED} with bare faces only"
            else:
                masked = ensure_photos(masked_n, args.workers)
                other = ensure_photos(ALBUM_UNMASKED, args.workers, masked=False)
                what = f"synthetic: {masked_n} with masked people, {ALBUM_UNMASKED} with unmasked people only"
            # Interleaved, as an album mixes them: 8 of every 20 have no masked face.
            photos = sorted(masked + other, key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
            modes.append(Mode(name, photos, f"album of {len(photos)} photos, {what}"))
        else:
            raise SystemExit(f"unknown mode {name!r}: synthetic, real or album")
    return modes


# -- the floor ---------------------------------------------------------------------------------
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
    """Photos per second for decode + encode only (or another per-photo ``job``), pool start included."""
    started = time.perf_counter()
    with _pool(workers) as pool:
        list(pool.map(job, [str(p) for p in photos], chunksize=1))
    return len(photos) / (time.perf_counter() - started)


# -- maskalbum run, deface ---------------------------------------------------------------------
class RssSampler(threading.Thread):
    """Peak summed RSS of a process and all its descendants, sampled from /proc; and where it went:
    the peak of the process itself and of its largest descendant."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self._halt = pid, interval, 0, threading.Event()
        self.own_peak = self.child_peak = 0

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
                                rss = int(line.split()[1]) * 1024
                                total += rss
                                if pid == self.pid:
                                    self.own_peak = max(self.own_peak, rss)
                                else:
                                    self.child_peak = max(self.child_peak, rss)
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_maskalbum(album: Path, workers: int, detect_size: int | None = None) -> tuple[float, RssSampler, dict]:
    """(seconds, RSS peaks, summary) for a fresh `maskalbum run` of ``album``."""
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
    if proc.returncode not in (0, 1):
        raise SystemExit(f"maskalbum run failed with {proc.returncode}")
    return seconds, sampler, json.loads(stdout)


def run_deface(deface: str, photos: list[Path], folder: Path) -> float:
    """Photos per second for ``deface --scale 1600x1200`` over copies of ``photos`` (one process, as shipped)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    inputs = []
    for i, photo in enumerate(photos):
        dst = folder / f"P{i:05d}.jpg"
        os.link(photo, dst)
        inputs.append(str(dst))
    started = time.perf_counter()
    proc = subprocess.run(
        [deface, "--scale", "1600x1200", *inputs], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    seconds = time.perf_counter() - started
    made = len(list(folder.glob("*_anonymized.jpg")))
    if proc.returncode != 0 or made != len(photos):
        raise SystemExit(f"deface failed ({proc.returncode}, {made}/{len(photos)} written): {proc.stderr[-500:]}")
    return len(photos) / seconds


def link_album(photos: list[Path], count: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        src = photos[i % len(photos)]
        dst = folder / f"{i // 100:02d}" / f"P{i:05d}.jpg"
        dst.parent.mkdir(exist_ok=True)
        if not dst.exists():
            os.link(src, dst)
    return folder


def _spread_text(values: list[float], fmt: str = "{:.2f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.median(values))} (runs: {', '.join(fmt.format(v) for v in values)})"


def measure(mode: Mode, args: argparse.Namespace, tmp: Path) -> None:
    print(f"\n== {mode.name}: {mode.what}", flush=True)
    album = link_album(mode.photos, len(mode.photos), tmp / mode.name)
    floors, runs, ratios, defaces, peaks = [], [], [], [], []
    summary: dict = {}
    for i in range(args.repeat):
        floor_rate = floor(mode.photos, args.workers)
        seconds, rss, summary = run_maskalbum(album, args.workers, args.detect_size)
        run_rate, peak = summary["photos"] / seconds, rss.peak
        line = f"  run {i + 1}: floor {floor_rate:6.2f} photos/s, maskalbum run {run_rate:5.2f} photos/s, "
        line += f"ratio {run_rate / floor_rate:.3f}, peak RSS {peak / 2**20:.0f} MiB "
        line += f"(parent {rss.own_peak / 2**20:.0f}, largest worker {rss.child_peak / 2**20:.0f})"
        floors.append(floor_rate), runs.append(run_rate), ratios.append(run_rate / floor_rate), peaks.append(peak)
        if args.deface:
            rate = run_deface(args.deface, mode.photos, tmp / f"{mode.name}-deface")
            defaces.append(rate)
            line += f"; deface {rate:.2f} photos/s (maskalbum / deface {run_rate / rate:.2f})"
        print(line, flush=True)
    print(f"  {summary['photos']} photos, {summary['masked']} masked, faces found {summary['faces_found']}, "
          f"masked {summary['faces_masked']}, errors {summary['error']}")  # fmt: skip
    print(f"  (a) decode + encode floor : {_spread_text(floors)} photos/s")
    print(f"  (b) maskalbum run         : {_spread_text(runs)} photos/s")
    print(f"  ratio (b)/(a)             : {_spread_text(ratios, '{:.3f}')}")
    print(f"  peak RSS (tree)           : {_spread_text([p / 2**20 for p in peaks], '{:.0f}')} MiB")
    if defaces:
        print(f"  deface --scale 1600x1200  : {_spread_text(defaces)} photos/s, ratio to floor "
              f"{_spread_text([d / f for d, f in zip(defaces, floors, strict=True)], '{:.3f}')}, maskalbum / deface "
              f"{_spread_text([r / d for r, d in zip(runs, defaces, strict=True)])}")  # fmt: skip
    if args.models:
        # What the two models alone allow: no painting, no CSVs, no zip.
        models_rate = floor(mode.photos, args.workers, _decode_detect_encode)
        print(f"  (c) floor + detection only: {models_rate:.2f} photos/s (ratio {models_rate / floors[-1]:.3f})")


# -- per-stage breakdown -----------------------------------------------------------------------
# The stages are marked in the pipeline's own code (batch_job.stages.timed): the detector's survey,
# windows, closeup and landmarks, the painter's paint.* parts, the pipeline's and the runner's.
STAGE_ORDER = ("decode", "decode full", "survey", "middle", "windows", "closeup", "landmarks", "detect", "wearing",
               "fit", "paint", "thumbs", "encode", "write", "(rest)")  # fmt: skip


def breakdown(mode: Mode, args: argparse.Namespace, tmp: Path) -> None:
    """Seconds per photo and per face for every stage, the photos run in this process (one worker)."""
    from batch_job import imaging, stages
    from batch_job.pipeline import process_photo
    from batch_job.runner import WorkSpec, _Worker, local_layout

    full_decodes = [0]
    original_full = imaging.Photo.full

    def counting_full(self):
        before = self.full_decodes
        image = original_full(self)
        full_decodes[0] += self.full_decodes - before
        return image

    imaging.Photo.full = counting_full
    album = link_album(mode.photos, len(mode.photos), tmp / f"{mode.name}-breakdown")
    out = tmp / f"{mode.name}-breakdown-out"
    keys = sorted(str(p.relative_to(album)) for p in album.rglob("*.jpg"))
    spec = WorkSpec(str(album), str(out), local_layout(album.name), Settings(), frozenset())
    # A warm worker, as in a run: model sessions and mask art load once per worker, not per photo.
    worker = _Worker(spec)
    process_photo(keys[0], (album / keys[0]).read_bytes(), worker.ctx)
    full_decodes[0] = 0
    stages.enable()
    started = time.perf_counter()
    with stages.timed("(rest)"):
        records = [worker.handle(key)[0] for key in keys]
    wall = time.perf_counter() - started
    snap = stages.snapshot()
    stages.enable(False)
    imaging.Photo.full = original_full
    photos = len(records)
    faces = sum(r["row"]["faces_found"] for r in records)
    masked = sum(r["row"]["faces_masked"] for r in records)
    print(f"\n== per-stage breakdown, {mode.name}: {photos} photos in this process (one worker), "
          f"{faces} faces found, {masked} masked, {full_decodes[0]} full decodes, "
          f"{wall / photos:.3f} s/photo")  # fmt: skip
    print(f"  {'stage':<12} {'s/photo':>8} {'s/face':>8} {'calls':>6} {'share':>6}")
    per_face = {"fit": masked, "paint": masked}
    for name in sorted(snap, key=lambda n: STAGE_ORDER.index(n) if n in STAGE_ORDER else 99):
        seconds, calls = snap[name]
        n = per_face.get(name.split(".")[0], faces)  # paint.warp etc.: per masked face too
        face_text = f"{seconds / n:8.3f}" if n else f"{'-':>8}"
        print(f"  {name:<12} {seconds / photos:8.3f} {face_text} {calls:6d} {seconds / wall:6.1%}")
    print("  (s/face: per face found; fit and paint per masked face. (rest): manifest rows, records, queue)")


# -- one worker's memory over a long album -----------------------------------------------------------
def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cache_bytes() -> dict[str, int]:
    """Bytes held by every cache that outlives a photo: the art's levels and the derived caches."""
    from batch_job import cover, derived, fit, paint
    from masks import catalog

    held = {"levels": catalog.LEVELS.bytes} if hasattr(catalog, "LEVELS") else {}
    for module in (paint, cover, fit):
        for name, value in vars(module).items():
            if isinstance(value, derived.Derived) and hasattr(value, "bytes"):
                held[f"{module.__name__.rpartition('.')[2]}.{name}"] = value.bytes
    return held


def worker_memory(mode: Mode, count: int, tmp: Path) -> None:
    """One worker in this process (malloc tuned and trimmed as the runner's are) over ``count`` photos
    (the mode's, repeated under new names): RSS sampled every 2 ms with the stage running, the peak
    per stage, RSS between photos as the album goes on, and what the caches hold."""
    from batch_job import runner, stages
    from batch_job.runner import WorkSpec, _Worker, local_layout

    album = link_album(mode.photos, count, tmp / f"{mode.name}-memory")
    keys = sorted(str(p.relative_to(album)) for p in album.rglob("*.jpg"))
    spec = WorkSpec(str(album), str(tmp / f"{mode.name}-memory-out"), local_layout(album.name), Settings(), frozenset())
    runner._tune_malloc()
    base = _rss()
    worker = _Worker(spec)
    loaded = _rss()
    by_stage: dict[str, int] = {}
    halt = threading.Event()

    def sample() -> None:
        while not halt.is_set():
            stage = stages.current() or "(between stages)"
            rss = _rss()
            if rss > by_stage.get(stage, 0):
                by_stage[stage] = rss
            halt.wait(0.002)

    stages.enable()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    between = []
    started = time.perf_counter()
    for key in keys:
        worker.handle(key)
        runner._release_memory()
        between.append(_rss())
    halt.set()
    sampler.join()
    stages.enable(False)
    mib = 2**20
    print(f"\n== one worker's memory, {mode.name}: {len(keys)} photos in {time.perf_counter() - started:.0f} s")
    print(f"  interpreter {base / mib:.0f} MiB, worker loaded (models, catalog) {loaded / mib:.0f} MiB")
    marks = sorted({0, 9, 99, len(keys) // 2, len(keys) - 1} & set(range(len(keys))))
    print("  RSS between photos: " + ", ".join(f"after {i + 1}: {between[i] / mib:.0f}" for i in marks) + " MiB")
    peak_stage = max(by_stage, key=lambda s: by_stage[s])
    print(f"  peak {by_stage[peak_stage] / mib:.0f} MiB, in {peak_stage}; highest RSS seen per stage (MiB):")
    for stage, rss in sorted(by_stage.items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {stage:<16} {rss / mib:6.0f}")
    print("  caches at the end (MiB): " + ", ".join(f"{k} {v / mib:.1f}" for k, v in _cache_bytes().items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24, help="photos per mode (synthetic, real)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--from", dest="source", help="real photos (a folder of images, or one with images/ + labels/)")
    parser.add_argument("--modes", default="synthetic,real,album")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode (0: the breakdown alone)")
    parser.add_argument("--breakdown", action="store_true", help="per-stage seconds per photo and per face")
    parser.add_argument("--deface", help="path to a deface 1.5.0 executable (its own venv; never a dependency)")
    parser.add_argument("--models", action="store_true", help="also (c): the floor plus detection only")
    parser.add_argument("--rss-photos", type=int, default=0, help="photos in the peak-RSS run (0: none)")
    parser.add_argument("--detect-size", type=int, default=None, help="passed to maskalbum run (default 2048)")
    parser.add_argument("--worker-memory", type=int, default=0, help="photos through one worker here: its RSS")
    args = parser.parse_args()
    detect_size = args.detect_size or Settings.detect_long_side
    modes = build_modes(args)
    print(f"{args.workers} workers, detect size {detect_size}, {args.repeat} run(s) per mode, {os.cpu_count()} cores")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        for mode in modes:
            if args.repeat:  # --repeat 0: the breakdown alone
                measure(mode, args, Path(tmp))
        if args.breakdown:
            for mode in modes:
                breakdown(mode, args, Path(tmp))
        if args.worker_memory:
            worker_memory(modes[0], args.worker_memory, Path(tmp))
        if args.rss_photos:
            photos = modes[0].photos
            big = link_album(photos, args.rss_photos, Path(tmp) / "big")
            seconds, rss, summary = run_maskalbum(big, args.workers, args.detect_size)
            count = summary["photos"]
            print(
                f"\n{count} photos ({modes[0].name}): {count / seconds:.2f} photos/s, "
                f"peak RSS of the process tree {rss.peak / 2**20:.0f} MiB (target <= 1000 MB = 954 MiB); "
                f"parent alone {rss.own_peak / 2**20:.0f} MiB, largest worker {rss.child_peak / 2**20:.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
