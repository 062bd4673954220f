"""The detection-size trade-off: recall and time of CenterFace at several long sides, on 12 MP photos.

    python -m bench.detect_tradeoff [--photos 24] [--sides 960,1280,1600,2048]

Phone-size scenes (4032 x 3024) with 4-8 masked people whose faces are 40 to
400 px wide at full resolution (small faces are the hard part). For each long
side: the share of faces >= 40 px found (the production path: main pass plus
the close-up pass), false detections, and the median time of detection end to
end (decode, CenterFace, FaceMesh). Two strategies per long side: the whole
photo read at that size, and the production path - an 800 px survey that reads
only windows around weak heatmap peaks at that size.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import batch_job.detect.local as local
from batch_job.imaging import Photo
from testing.synth import PersonSpec, make_scene


def _inside(point, box) -> bool:
    x, y, w, h = box
    return x <= point.x <= x + w and y <= point.y <= y + h


def scenes(count: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(4, 9))
        people = [
            PersonSpec(float(np.exp(rng.uniform(np.log(40), np.log(400)))), yaw=float(rng.uniform(-35, 35)),
                       roll=float(rng.uniform(-20, 20)), asset=int(rng.integers(0, 2)),
                       colour=str(rng.choice(["white", "paleblue"])), skin=str(rng.choice(["light", "medium", "deep"])))
            for _ in range(n)
        ]  # fmt: skip
        yield make_scene(people, size=(4032, 3024), seed=seed * 100 + i)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--sides", default="960,1280,1600,2048")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    sides = [int(s) for s in args.sides.split(",")]
    data = [(s.jpeg(90), s.faces) for s in scenes(args.photos, args.seed)]
    detector = local.LocalDetector()
    print(f"{len(data)} photos 4032x3024, {sum(len(f) for _, f in data)} masked faces")
    print(
        "long side | strategy          | found >= 40 px | found >= 80 px | false "
        "| detect s/photo (median, decode + landmarks included)"
    )
    for side in sides:
        detector.long_side = side
        for zoom in (False, True):
            detector.zoom = zoom
            found = {40: [0, 0], 80: [0, 0]}
            times, false = [], 0
            for jpeg, truths in data:
                photo = Photo(jpeg)
                started = time.perf_counter()
                faces = detector.detect(photo)
                times.append(time.perf_counter() - started)
                for truth in truths:
                    tx, ty, tw, th = truth.box
                    hit = any(tx <= f.box.center.x <= tx + tw and ty <= f.box.center.y <= ty + th for f in faces)
                    for limit in found:
                        if truth.spec.face_width >= limit:
                            found[limit][0] += hit
                            found[limit][1] += 1
                false += sum(not any(_inside(f.box.center, t.box) for t in truths) for f in faces)
            r40 = found[40][0] / max(1, found[40][1])
            r80 = found[80][0] / max(1, found[80][1])
            name = "survey 800 + zoom" if zoom else f"whole photo {side}"
            print(f"{side:9d} | {name:17s} | {r40:14.1%} | {r80:14.1%} | {false:5d} | {statistics.median(times):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
