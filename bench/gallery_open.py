"""How fast a large album's gallery opens in headless Chromium (Debian's, through Playwright).

Makes a synthetic output folder of N photos (manifest.csv, faces.csv, one small before/after thumbnail pair
per photo, hard-linked; the pipeline is not run N times), writes the gallery with the real
``write_gallery`` and opens index.html from file:// in a fresh browser page, several times.

    nice .venv/bin/python bench/gallery_open.py            # 2,000 and 10,000 photos
    nice .venv/bin/python bench/gallery_open.py --photos 2000 --runs 5

Figures: "ready" is navigation start -> the grid built (window.MASKALBUM_READY); "first screen" is
navigation start -> every thumbnail in the first screenful decoded. The done-when bar is < 2 s for 2,000.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.browser import browser  # noqa: E402
from batch_job.gallery import thumb_keys, write_gallery  # noqa: E402
from batch_job.pipeline import FACES_COLUMNS, MANIFEST_COLUMNS  # noqa: E402
from batch_job.storage import LocalStorage  # noqa: E402


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
            "width": 4000, "height": 3000, "status": status, "reason": "cannot decode JPEG" if status == "error" else "",
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


MEASURE = """() => new Promise(resolve => {
  const check = () => {
    if (!window.MASKALBUM_READY) return requestAnimationFrame(check);
    const vh = innerHeight;
    const first = [...document.querySelectorAll('.card img.after')].filter(i => i.getBoundingClientRect().top < vh);
    if (!first.every(i => i.complete && i.naturalWidth > 0)) return requestAnimationFrame(check);
    const nav = performance.getEntriesByType('navigation')[0];
    resolve({first: performance.now(), dcl: nav.domContentLoadedEventEnd, cards: document.querySelectorAll('.card').length,
             images: first.length});
  };
  check();
})"""
READY = "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"


def measure(index: Path, runs: int) -> list[dict]:
    results = []
    with browser() as b:
        for _ in range(runs):
            page = b.new_page(viewport={"width": 1280, "height": 800})
            started = time.perf_counter()
            page.goto(index.as_uri(), wait_until="commit")
            figures = page.evaluate(MEASURE)
            figures["wall"] = (time.perf_counter() - started) * 1000
            results.append(figures)
            page.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, action="append", help="album sizes (default 2000 and 10000)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for n in args.photos or [2000, 10000]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            index = synthetic_output(Path(tmp), n)
            made = time.perf_counter() - t0
            data_kb = (Path(tmp) / "gallery-data.js").stat().st_size / 1024
            page_kb = index.stat().st_size / 1024
            res = measure(index, args.runs)
            med = {k: statistics.median(r[k] for r in res) for k in ("dcl", "first", "wall")}
            print(
                f"{n:>6} photos: index.html {page_kb:.0f} KB, gallery-data.js {data_kb:.0f} KB (written in {made:.1f} s); "
                f"median of {args.runs}: DOMContentLoaded {med['dcl']:.0f} ms, first screen of thumbnails "
                f"{med['first']:.0f} ms ({res[0]['images']} images, {res[0]['cards']} cards built), "
                f"wall incl. navigation {med['wall']:.0f} ms"
            )


if __name__ == "__main__":
    main()
