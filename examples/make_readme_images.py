"""Render the README's pictures from the sample album through the real pipeline.

    python -m examples.make_readme_images

docs/img/before_after.jpg: two sample photos, before and after.
docs/img/gallery.jpg: every mask on the same face (as `maskalbum masks --gallery`).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from batch_job.detect.local import LocalDetector
from batch_job.pipeline import Context, process_photo
from batch_job.settings import Settings
from masks.catalog import load_catalog
from masks.gallery import render_gallery

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

OUT = ROOT / "docs" / "img"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ctx = Context(Settings(seed=2), LocalDetector(), load_catalog().masks)
    rows = []
    for name in ("day1/beach_group.jpg", "day1/train_selfie.jpg"):
        data = (HERE / "choshi_trip" / name).read_bytes()
        result = process_photo(name, data, ctx)
        before = Image.open(io.BytesIO(data)).convert("RGB")
        after = Image.open(io.BytesIO(result.output)).convert("RGB")
        rows.append((before, after))
    width = 1400
    half = width // 2
    scaled = []
    for before, after in rows:
        k = half / before.width
        size = (half, round(before.height * k))
        scaled.append((before.resize(size, Image.Resampling.LANCZOS), after.resize(size, Image.Resampling.LANCZOS)))
    height = sum(b.height for b, _ in scaled) + 28 * len(scaled)
    sheet = Image.new("RGB", (width, height), (20, 20, 22))
    draw = ImageDraw.Draw(sheet)
    y = 0
    for before, after in scaled:
        draw.text((10, y + 8), "before", fill=(220, 220, 220))
        draw.text((half + 10, y + 8), "after: maskalbum run", fill=(220, 220, 220))
        sheet.paste(before, (0, y + 28))
        sheet.paste(after, (half, y + 28))
        y += before.height + 28
    sheet.save(OUT / "before_after.jpg", quality=88)
    gallery = render_gallery(load_catalog(), OUT / "gallery.png")
    Image.open(gallery).convert("RGB").save(OUT / "gallery.jpg", quality=88)
    gallery.unlink()
    print("wrote", OUT / "before_after.jpg", OUT / "gallery.jpg")


if __name__ == "__main__":
    main()
