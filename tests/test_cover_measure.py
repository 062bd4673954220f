"""The real-photo bench's "still visible" measure: its "face" definition leaves out collars and background.

A real JPEG drawn for the case the real photos showed (bench/sheets.py --show-visible): a white worn
mask on a face, a white collar in the labelled box's lower corners, and a monster mask painted over
the worn mask only. The box definition counts the collar as worn mask left in view; the face
definition does not, and still counts any of the worn mask itself left in view.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from bench.real_photos import Label, face_part, still_visible, worn_mask

SKIN, WHITE, ART = (205, 160, 130), (236, 238, 240), (60, 30, 90)


def _jpeg(image: Image.Image) -> np.ndarray:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _scene(cover_mask: bool, leave_strip: bool = False) -> tuple[np.ndarray, np.ndarray, Label]:
    """(original, output, label): a 200 x 240 labelled face with a white mask and a white collar."""
    lab = Label(0, True, 100, 60, 200, 240)
    image = Image.new("RGB", (400, 360), (40, 60, 50))
    draw = ImageDraw.Draw(image)
    draw.ellipse([100, 60, 300, 300], fill=SKIN)
    mask = [(130, 180), (270, 180), (262, 260), (200, 292), (138, 260)]
    draw.polygon(mask, fill=WHITE)
    # The collar: white, in the box's lower corners, apart from the mask (skin and background between).
    draw.rectangle([100, 280, 135, 300], fill=WHITE)
    draw.rectangle([265, 280, 300, 300], fill=WHITE)
    original = _jpeg(image)
    if cover_mask:
        draw.polygon(mask, fill=ART)
        if leave_strip:
            draw.rectangle([130, 180, 270, 192], fill=WHITE)  # the worn mask's top edge left in view
    return original, _jpeg(image), lab


def test_the_face_definition_leaves_the_collar_out_and_keeps_the_mask():
    original, _, lab = _scene(cover_mask=False)
    mask, _, region = worn_mask(original, lab)
    face = face_part(mask, lab, region)
    ys = np.arange(region[0].start, region[0].stop)[:, None]
    xs = np.arange(region[1].start, region[1].stop)[None, :]
    collar = ((ys >= 283) & (ys <= 297)) & (((xs >= 117) & (xs <= 132)) | ((xs >= 268) & (xs <= 283)))
    worn = ((ys >= 195) & (ys <= 250)) & ((xs >= 150) & (xs <= 250))
    assert mask[collar].mean() > 0.9  # the box definition takes the collar for mask
    assert face[collar].mean() < 0.05
    assert face[worn].mean() > 0.95


def test_the_face_definition_counts_the_worn_mask_left_in_view_and_not_the_collar():
    original, output, lab = _scene(cover_mask=True)
    shares = still_visible(original, output, lab)
    assert shares["visible"] > 0.05  # the collar, untouched, counted as worn mask in view
    assert shares["visible_face"] < 0.01
    original, output, lab = _scene(cover_mask=True, leave_strip=True)
    assert still_visible(original, output, lab)["visible_face"] > 0.05
