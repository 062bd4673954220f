"""A gallery sheet: every catalog mask fitted on the same face by the real pipeline."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from batch_job.errors import StorageError, UsageError
from masks.catalog import Catalog, MaskTemplate

# Rear Admiral Grace Hopper, US Navy portrait (public domain), as shipped in
# matplotlib's sample data; see testing/faces/make_assets.py.
GALLERY_FACE = Path(__file__).resolve().parent / "gallery_face.png"
UPSCALE = 2  # paint on a 2x copy so the masks show their detail
COLUMNS = 3


def render_on_face(templates: list[MaskTemplate]) -> list[Image.Image]:
    from batch_job.detect.local import LocalDetector
    from batch_job.imaging import Photo
    from batch_job.paint import PaintJob, paint

    face_img = Image.open(GALLERY_FACE).convert("RGB")
    face_img = face_img.resize((face_img.width * UPSCALE, face_img.height * UPSCALE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    face_img.save(buffer, "PNG")
    (face,) = LocalDetector().detect(Photo(buffer.getvalue()))
    tiles = []
    for i, template in enumerate(templates):
        tile = face_img.copy()
        paint(tile, [PaintJob(face, template, seed=i, wears_mask=False)])
        tiles.append(tile)
    return tiles


def render_gallery(catalog: Catalog, out: Path) -> Path:
    # Checked before the (slow) rendering: an unknown extension is a usage error, not a traceback at save.
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(
            f"--gallery {out}: unknown image extension {out.suffix or '(none)'!r}; use .png, .jpg or .webp"
        )
    templates = list(catalog.masks)
    tiles = render_on_face(templates)
    tw, th = tiles[0].size
    label_h = 44
    rows = -(-len(tiles) // COLUMNS)
    sheet = Image.new("RGB", (COLUMNS * tw, rows * (th + label_h)), (32, 32, 36))
    draw = ImageDraw.Draw(sheet)
    try:
        font = ImageFont.load_default(size=20)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    for i, (template, tile) in enumerate(zip(templates, tiles, strict=True)):
        x, y = (i % COLUMNS) * tw, (i // COLUMNS) * (th + label_h)
        sheet.paste(tile, (x, y))
        draw.text((x + 10, y + th + 4), template.name, fill=(240, 240, 240), font=font)
        draw.text((x + 10, y + th + 24), ", ".join(template.tags), fill=(170, 170, 180), font=ImageFont.load_default())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(out)
    except OSError as exc:
        from batch_job.storage import explain

        raise StorageError(f"cannot write the gallery {out}: {explain(exc, out.parent)}") from exc
    return out
