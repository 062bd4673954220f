"""Test helpers: synthetic photos and plain images, encoded by the real libraries."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from testing.synth import PersonSpec, make_scene


def scene_jpeg(people: list[PersonSpec], size=(900, 700), seed=0, quality=92, **kw) -> bytes:
    return make_scene(people, size=size, seed=seed, **kw).jpeg(quality)


def gradient_image(size=(640, 480), mode="RGB") -> Image.Image:
    w, h = size
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    rgb = np.stack([x, y, 255 - x], axis=2).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").convert(mode)


def encode(image: Image.Image, fmt: str = "JPEG", **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kw)
    return buffer.getvalue()
