"""A synthetic gallery output of N photos, for the browser tests and bench/gallery_open.py: manifest.csv,
faces.csv, one small before/after thumbnail pair per photo (hard-linked; the pipeline is not run N times),
and the gallery written by the real ``write_gallery``."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pandas as pd
from PIL import Image

from batch_job.gallery import thumb_keys, write_gallery
from batch_job.pipeline import FACES_COLUMNS, MANIFEST_COLUMNS
from batch_job.storage import LocalStorage


def _jpeg(colour: tuple[int, int, int], size=(400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def synthetic_output(root: Path, photos: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    before, after = root / "_before.jpg", root / "_after.jpg"
    before.write_bytes(_jpeg((200, 200, 205)))
    after.write_bytes(_jpeg((90, 40, 120)))
    rows, faces = [], []
    for i in range(photos):
        key = f"day{i // 500 + 1}/IMG_{i:05d}.jpg"
        status = "error" if i % 97 == 0 else ("no_faces" if i % 7 == 0 else "ok")
        n_faces = 0 if status != "ok" else rng.randint(1, 6)
        masked = sum(1 for _ in range(n_faces) if rng.random() < 0.8)
        rows.append({
            "path": key, "output": "" if status == "error" else key, "sha256": f"{i:064x}", "bytes": 3_000_000,
            "width": 4000, "height": 3000, "status": status,
            "reason": "cannot decode JPEG" if status == "error" else "",
            "notes": "", "faces_found": n_faces, "faces_masked": masked, "masks": "cat;oni" if masked else "",
            "detector": "local", "ms": 900,
        })  # fmt: skip
        for f in range(n_faces):
            action = "replaced" if f < masked else "left_bare"
            faces.append({
                "image": key, "face": f, "x": 300 + 500 * f, "y": 900, "w": 260, "h": 300, "score": 0.9,
                "wearing_mask": action == "replaced", "mask_score": 0.8, "action": action,
                "mask": "cat" if action == "replaced" else "", "roll": 0.0, "yaw": 0.0, "pitch": 0.0,
            })  # fmt: skip
        if status != "error":
            a, b = thumb_keys(key)
            for target, source in ((a, after), (b, before) if masked else (None, None)):
                if target:
                    path = root / target
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.link(source, path)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS).astype(str)
    face_frame = pd.DataFrame(faces, columns=FACES_COLUMNS).astype(str)
    manifest.to_csv(root / "manifest.csv", index=False)
    face_frame.to_csv(root / "faces.csv", index=False)
    write_gallery(LocalStorage(root), "", "synthetic", manifest, face_frame)
    return root / "index.html"


READY = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
