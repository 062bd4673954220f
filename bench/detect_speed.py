"""Detection speed and recall on real photos scaled to 12 MP: two source trees side by side, photo by photo.

    python -m bench.detect_speed DEVSET [--limit N] [--before TREE] [--after TREE] [--json FILE] [--own-size]

Each photo of DEVSET/images is scaled to 4032 px on its long side (bicubic) and written as a
JPEG (q90) to a temporary folder, its YOLO labels scaled with it (``--own-size``: the photos as
they are, the sizes ``bench.real_photos`` runs). Two worker processes, one
per source tree (``--before``: e.g. ``git archive main | tar -x -C /tmp/before``; ``--after``:
this tree), each load ``LocalDetector`` once (one onnxruntime thread, as in an album run) and
are handed the same photo in turn, alternating which goes first, so that the load of a shared
machine falls on both alike. Per photo a worker times ``detect_with_meshes(Photo(jpeg))``: the
decodes it asks for (the survey's DCT-scaled copy, the full photo when a window or a crop needs
it), CenterFace's survey, windows and close-up pass, and FaceMesh. A tree whose detector has
``batch_job.stages`` marks also reports seconds per stage.

Recall is per labelled masked face, by its labelled width in the ORIGINAL photo (the buckets of
docs/QUALITY.md, so the rows read against that table), matched to the detections as
bench/real_photos.py matches faces.csv (IoU >= 0.3 or mutual centres, greedy). "found" is any
detection, whatever the later wearing check or size rule does with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from PIL import Image

from bench.real_photos import BUCKETS, Label, bucket_name, bucket_of, image_paths, match, read_labels

ROOT = Path(__file__).resolve().parent.parent
LONG_SIDE = 4032

# Runs inside a worker with the tree under test first on sys.path: one line in (a JPEG path),
# one JSON line out.
WORKER = r"""
import json, sys, time
from batch_job.detect.local import LocalDetector
from batch_job.imaging import Photo
try:
    from batch_job import stages
    stages.enable()
except ImportError:
    stages = None
detector = LocalDetector()
print("ready", flush=True)
for line in sys.stdin:
    data = open(line.strip(), "rb").read()
    if stages:
        stages.reset()
    photo = Photo(data)
    started = time.perf_counter()
    found = detector.detect_with_meshes(photo)
    seconds = time.perf_counter() - started
    boxes = [dict(x=f.box.x, y=f.box.y, w=f.box.w, h=f.box.h, score=f.score) for f, _ in found]
    snap = {k: v[0] for k, v in stages.snapshot().items()} if stages else {}
    print(json.dumps(dict(seconds=seconds, faces=boxes, stages=snap)), flush=True)
"""


class Worker:
    def __init__(self, tree: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER], cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"worker for {tree} did not start")

    def run(self, path: Path) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def scaled_set(
    data_dir: Path, dest: Path, limit: int | None, own_size: bool = False
) -> list[tuple[Path, list[Label], list[Label]]]:
    """(scaled JPEG, labels in its pixels, labels in the original's pixels) per photo."""
    out = []
    for stem, path in list(image_paths(data_dir).items())[:limit]:
        with Image.open(path) as image:
            if own_size:
                labels = read_labels(data_dir / "labels" / f"{stem}.txt", image.size)
                out.append((path, labels, labels))
                continue
            rgb = image.convert("RGB")
        k = LONG_SIDE / max(rgb.size)
        size = (round(rgb.width * k), round(rgb.height * k))
        jpeg = dest / f"{stem}.jpg"
        rgb.resize(size, Image.Resampling.BICUBIC).save(jpeg, quality=90)
        label_path = data_dir / "labels" / f"{stem}.txt"
        out.append((jpeg, read_labels(label_path, size), read_labels(label_path, rgb.size)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("devset", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--before", type=Path, help="source tree of the reference detector (omit: after only)")
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--json", type=Path, help="write the per-photo figures here")
    parser.add_argument("--own-size", action="store_true", help="the photos at their own size, not 4032 px")
    args = parser.parse_args(argv)
    trees = {"after": args.after} | ({"before": args.before} if args.before else {})
    with tempfile.TemporaryDirectory() as tmp:
        photos = scaled_set(args.devset, Path(tmp), args.limit, args.own_size)
        workers = {name: Worker(tree) for name, tree in trees.items()}
        results: dict[str, list[dict]] = {name: [] for name in trees}
        order = list(trees)
        for i, (jpeg, _, _) in enumerate(photos):
            for name in order if i % 2 == 0 else order[::-1]:
                results[name].append(workers[name].run(jpeg))
        for w in workers.values():
            w.close()
    print(f"{len(photos)} photos {'at their own size' if args.own_size else f'scaled to {LONG_SIDE} px'}, one thread")
    print("tree   | s/photo mean | median | p90   | " + " | ".join(bucket_name(lo, hi) for lo, hi in BUCKETS[1:]))
    summary = {}
    for name in trees:
        seconds = sorted(r["seconds"] for r in results[name])
        found: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (_, labels, originals), r in zip(photos, results[name], strict=True):
            pairs = match(labels, r["faces"])
            for li, (lab, orig) in enumerate(zip(labels, originals, strict=True)):
                if not lab.masked or orig.w < 12:
                    continue
                found[bucket_of(orig.w)][0] += li in pairs
                found[bucket_of(orig.w)][1] += 1
        cells = [f"{found[b][0]}/{found[b][1]}" for b in (bucket_name(lo, hi) for lo, hi in BUCKETS[1:])]
        p90 = seconds[int(0.9 * (len(seconds) - 1))]
        mean = statistics.fmean(seconds)
        print(f"{name:6s} | {mean:12.3f} | {statistics.median(seconds):.3f}  | {p90:.3f} | " + " | ".join(cells))
        stages: dict[str, float] = defaultdict(float)
        for r in results[name]:
            for stage, s in r["stages"].items():
                stages[stage] += s
        if stages:
            print("        stages, s/photo: " + ", ".join(f"{k} {v / len(photos):.3f}" for k, v in stages.items()))
        summary[name] = dict(mean=mean, recall=dict(found), stages=dict(stages))
    if "before" in summary:
        print(f"after / before, mean s/photo: {summary['after']['mean'] / summary['before']['mean']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(dict(summary=summary, photos=results), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
