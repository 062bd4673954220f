"""Pictures as LINE takes them: JPEG within LINE's byte limits, and the album's before/after collage."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from batch_job.errors import PhotoError
from batch_job.imaging import Photo

# LINE ImageMessage limits (JPEG or PNG). Decimal megabytes: the safe reading of "1 MB".
ORIGINAL_MAX_BYTES = 10_000_000
PREVIEW_MAX_BYTES = 1_000_000
ORIGINAL_LONG_SIDE = 4096
PREVIEW_LONG_SIDE = 1024
COLLAGE_HEIGHT = 1200
_GAP = 12


def fit_jpeg(image: Image.Image, max_bytes: int, long_side: int) -> bytes:
    """``image`` as a JPEG of at most ``max_bytes``, long side at most ``long_side``: lower quality, then smaller."""
    image = image.convert("RGB")
    if max(image.size) > long_side:
        image = _scaled(image, long_side / max(image.size))
    while True:
        for quality in (88, 78, 68):
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue()
        if max(image.size) <= 64:
            raise PhotoError(f"cannot fit the picture into {max_bytes} bytes")
        image = _scaled(image, 0.75)


def line_pair(data: bytes, max_pixels: int) -> tuple[bytes, bytes]:
    """(original, preview) JPEG/PNG bytes for an ImageMessage from an edited photo's bytes.

    The original is kept byte for byte when LINE can show it as it is; otherwise re-encoded.
    """
    photo = Photo(data, max_pixels=max_pixels)
    upright, _ = photo.at_most(ORIGINAL_LONG_SIDE)
    # LINE shows pixels as stored: a photo that relies on an EXIF rotation is re-encoded upright.
    if photo.format in ("JPEG", "PNG") and len(data) <= ORIGINAL_MAX_BYTES and photo.orientation == 1:
        original = data
    else:
        original = fit_jpeg(upright, ORIGINAL_MAX_BYTES, ORIGINAL_LONG_SIDE)
    return original, fit_jpeg(upright, PREVIEW_MAX_BYTES, PREVIEW_LONG_SIDE)


def decode(data: bytes, max_pixels: int, long_side: int = COLLAGE_HEIGHT * 2) -> Image.Image:
    """An upright RGB picture (EXIF, HEIC, limits handled by the pipeline's decoder)."""
    image, _ = Photo(data, max_pixels=max_pixels).at_most(long_side)
    return image.convert("RGB")


def collage(before: Image.Image | None, after: Image.Image) -> Image.Image:
    """Before | after at one height on a white strip, each labelled; just ``after`` without a before."""
    height = min(COLLAGE_HEIGHT, after.height, before.height if before else after.height)
    panels = [p for p in (before, after) if p is not None]
    panels = [_scaled(p, height / p.height) if p.height != height else p for p in panels]
    width = sum(p.width for p in panels) + _GAP * (len(panels) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    x = 0
    labels = ("before", "after") if before is not None else ("after",)
    font = ImageFont.load_default(size=max(14, height // 24))
    draw = ImageDraw.Draw(canvas)
    for panel, label in zip(panels, labels, strict=True):
        canvas.paste(panel, (x, 0))
        pad = max(4, height // 80)
        box = draw.textbbox((x + 2 * pad, 2 * pad), label, font=font)
        draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0))
        draw.text((x + 2 * pad, 2 * pad), label, fill="white", font=font)
        x += panel.width + _GAP
    return canvas


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)
