"""Precision and recall of the "who wears a mask" check on a labelled set.

    python -m testing.wearing [--count 240] [--seed 3]

Here rather than in bench/ because tests/test_detect_wearing.py gates on a small run of it.

The labelled set: synthetic people (testing/synth.py) with and without painted
masks in five colours, three skin tones, varied light, yaw, roll and size,
2-4 per photo; plus the two real, unmasked public-domain portraits at several
scales (testing/faces/). Each detected face is matched to its truth and the
decision compared with the label.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
from PIL import Image

from batch_job.detect.local import LocalDetector
from batch_job.imaging import Photo
from batch_job.wearing import assess, view
from testing.synth import FACES_DIR, MASK_COLOURS, SKIN_TONES, PersonSpec, make_scene


def labelled_people(rng: np.random.Generator, count: int) -> list[PersonSpec]:
    people = []
    colours = list(MASK_COLOURS)
    for i in range(count):
        masked = i % 2 == 0
        people.append(
            PersonSpec(
                face_width=float(rng.uniform(50, 260)),
                masked=masked,
                colour=colours[(i // 2) % len(colours)],
                yaw=float(rng.uniform(-35, 35)),
                roll=float(rng.uniform(-20, 20)),
                pitch=float(rng.uniform(-12, 12)),
                asset=int(rng.integers(0, 2)),
                skin=list(SKIN_TONES)[(i // 3) % len(SKIN_TONES)],
                light=float(rng.uniform(0.5, 1.05)),
                mirror=bool(rng.random() < 0.5),
            )
        )
    return people


def evaluate(count: int, seed: int, detector: LocalDetector | None = None) -> dict:
    detector = detector or LocalDetector()
    rng = np.random.default_rng(seed)
    people = labelled_people(rng, count)
    tally: Counter = Counter()
    by_colour: Counter = Counter()
    misses = []
    i = 0
    photo_no = 0
    while i < len(people):
        group = people[i : i + int(rng.integers(2, 5))]
        i += len(group)
        scene = make_scene(group, size=(1400, 900), seed=seed * 1000 + photo_no)
        photo_no += 1
        photo = Photo(scene.jpeg())
        faces = detector.detect(photo)
        for truth in scene.faces:
            tx, ty, tw, th = truth.box
            match = [f for f in faces if tx <= f.box.center.x <= tx + tw and ty <= f.box.center.y <= ty + th]
            if not match:
                tally["undetected"] += 1
                continue
            verdict = assess(*view(photo, match[0]), match[0])
            label = truth.spec.masked
            key = {(True, True): "tp", (False, True): "fn", (True, False): "fp", (False, False): "tn"}[
                (verdict.masked, label)
            ]
            tally[key] += 1
            if label:
                by_colour[(truth.spec.colour, verdict.masked)] += 1
            if key in ("fp", "fn"):
                misses.append({"key": key, "colour": truth.spec.colour, "skin": truth.spec.skin,
                               "light": round(truth.spec.light, 2), "score": verdict.score})  # fmt: skip
    # Real photos: the two unmasked portraits, whole and reduced.
    for name in ("astronaut", "hopper"):
        image = Image.open(FACES_DIR / f"{name}.png").convert("RGB")
        for k in (1.0, 0.6, 0.35):
            img = image.resize((max(1, int(image.width * k)), max(1, int(image.height * k))), Image.Resampling.LANCZOS)
            photo = Photo(_jpeg(img))
            faces = detector.detect(photo)
            for face in faces[:1]:
                verdict = assess(*view(photo, face), face)
                tally["real_tn" if not verdict.masked else "real_fp"] += 1
    tp, fp, fn, tn = (tally[k] + (tally["real_" + k] if k in ("fp", "tn") else 0) for k in ("tp", "fp", "fn", "tn"))
    return {
        "faces": sum(tally[k] for k in ("tp", "fp", "fn", "tn", "undetected")),
        "counts": dict(tally),
        "precision": tp / max(1, tp + fp),
        "recall": tp / max(1, tp + fn),
        "unmasked_left_alone": tn / max(1, tn + fp),
        "recall_by_colour": {
            c: by_colour[(c, True)] / max(1, by_colour[(c, True)] + by_colour[(c, False)]) for c in MASK_COLOURS
        },
        "misses": misses[:20],
    }


def _jpeg(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(evaluate(args.count, args.seed), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
