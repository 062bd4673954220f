"""What the wearing check costs per face, next to one FaceMesh run measured in the same loop.

    python -m bench.wearing_cost [--people 6] [--rounds 20] [--candidates]

A synthetic photo (testing/synth.py) of several masked and bare people; the
local detector finds them once, then each round times, per face: the whole
check (``assess``), the mask detector alone (crop + run + read), and one FaceMesh
run on that face. Minimum and median over the rounds; on a shared machine the
ratio to FaceMesh is the figure to quote, not the milliseconds.
``--candidates`` also times bench/wearing_signals.py's candidate signals
(not shipped): the mask detector on its two extra crops, the 64 px texture
and the landmark-following lower patch with their features.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from batch_job.detect.local import Crop, LocalDetector
from batch_job.imaging import Photo
from batch_job.wearing import assess, mask_crop, mask_detector_features, view
from testing.synth import PersonSpec, make_scene


def _time_candidates(times: dict[str, list[float]], image, scale: float, face) -> None:
    from batch_job import wearing as W
    from bench.wearing_signals import CROPS, _scores, crop_features, lower_features, lower_patch, texture_features

    t0 = time.perf_counter()
    for k in CROPS:
        crop_features(_scores(image, scale, face, k), k)
    t1 = time.perf_counter()
    texture_features(W.aligned_patch(image, scale, face, 64))
    t2 = time.perf_counter()
    lower_features(lower_patch(image, scale, face), np.zeros(3))
    t3 = time.perf_counter()
    for name, t in (("+ two crops", t1 - t0), ("+ texture", t2 - t1), ("+ lower patch", t3 - t2)):
        times.setdefault(name, []).append(t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=6)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--candidates", action="store_true", help="also time bench/wearing_signals.py's candidates")
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
            if args.candidates:
                _time_candidates(times, image, scale, face)
    mesh = np.median(times["FaceMesh"])
    print(f"{len(faces)} faces x {args.rounds} rounds")
    for name, ts in times.items():
        print(
            f"{name:14s} min {min(ts) * 1e3:6.2f} ms  median {np.median(ts) * 1e3:6.2f} ms"
            f"  ({np.median(ts) / mesh:.2f} x one FaceMesh run)"
        )


if __name__ == "__main__":
    main()
