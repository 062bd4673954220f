"""What the wearing check costs per face, next to one FaceMesh run measured in the same loop.

    python -m bench.wearing_cost [--people 6] [--rounds 20]

A synthetic photo (testing/synth.py) of several masked and bare people; the
local detector finds them once, then each round times, per face: the whole
check (``assess``), the mask detector alone (crop + run + read), and one FaceMesh
run on that face. Minimum and median over the rounds; on a shared machine the
ratio to FaceMesh is the figure to quote, not the milliseconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from batch_job.detect.local import Crop, LocalDetector
from batch_job.imaging import Photo
from batch_job.wearing import assess, mask_crop, mask_detector_features, view
from testing.synth import PersonSpec, make_scene


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=6)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()
    people = [PersonSpec(70 + 25 * i, masked=i % 2 == 0, asset=i % 2) for i in range(args.people)]
    scene = make_scene(people, size=(1600, 1000), seed=2)
    photo = Photo(scene.jpeg(90))
    detector = LocalDetector()
    faces = detector.detect(photo)
    views = [view(photo, f) for f in faces]
    assess(*views[0], faces[0])  # load the models outside the timing
    mask_detector_features(mask_crop(*views[0], faces[0]))
    times: dict[str, list[float]] = {"assess": [], "mask detector": [], "FaceMesh": []}
    for _ in range(args.rounds):
        for face, (image, scale) in zip(faces, views, strict=True):
            t0 = time.perf_counter()
            assess(image, scale, face)
            t1 = time.perf_counter()
            mask_detector_features(mask_crop(image, scale, face))
            t2 = time.perf_counter()
            b = face.box
            detector._mesh(image, Crop((b.x + b.w / 2) * scale, (b.y + b.h / 2) * scale, 1.5 * b.w * scale, 0.0))
            t3 = time.perf_counter()
            times["assess"].append(t1 - t0)
            times["mask detector"].append(t2 - t1)
            times["FaceMesh"].append(t3 - t2)
    mesh = np.median(times["FaceMesh"])
    print(f"{len(faces)} faces x {args.rounds} rounds")
    for name, ts in times.items():
        print(
            f"{name:14s} min {min(ts) * 1e3:6.2f} ms  median {np.median(ts) * 1e3:6.2f} ms"
            f"  ({np.median(ts) / mesh:.2f} x one FaceMesh run)"
        )


if __name__ == "__main__":
    main()
