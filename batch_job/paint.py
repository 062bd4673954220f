"""Paint fitted masks onto a photo: fit -> warp -> light and blend, face by face, back to front.

Only a window around each face is converted to float, so memory stays
proportional to the faces, not the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from batch_job.composite import blend_mask, estimate_blur, face_region_map, level_feather, lit_from_right, luma, soften
from batch_job.detect.face import Face
from batch_job.fit import BARE_CHIN_OVERSHOOT, anchor_targets, fit_template
from batch_job.warp import warp_image
from masks.catalog import ANCHOR_INDEX as _IDX
from masks.catalog import MaskTemplate

# The face's width (jaw to jaw) in eye distances: what the feather, shadow and light scale with.
FACE_WIDTH_PER_EYE_DISTANCE = 2.1
_FACE_OUTLINE = ("cheek_left", "jaw_left_nose", "jaw_left_low", "chin", "jaw_right_low", "jaw_right_nose", "cheek_right")


@dataclass(frozen=True)
class PaintJob:
    face: Face
    template: MaskTemplate
    seed: int  # for the grain noise: same photo, same seed -> same pixels
    wears_mask: bool = True  # a bare face (--all-faces) needs no chin overshoot


@dataclass
class Painted:
    """Where a mask landed: its window in the photo and its alpha there."""

    box: tuple[int, int, int, int]
    alpha: np.ndarray


def paint(canvas: Image.Image, jobs: list[PaintJob], keep_alpha: bool = False) -> list[Painted]:
    """Paint every job onto the RGB image ``canvas`` (changed in place), largest face last.

    Larger faces are nearer the camera, so painting them last lets a near
    person's mask cover a far one's where they overlap. The image is edited
    window by window through crop and paste: a 12 MP photo is never copied.
    """
    w, h = canvas.size
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].face.box.w * jobs[i].face.box.h)
    painted: list[Painted | None] = [None] * len(jobs)
    for i in order:
        job = jobs[i]
        targets = anchor_targets(job.face, overshoot=0.0, turn_push=False)
        # The eyes and brows, read once before this face is painted: they tell the
        # photo's focus and which side the light comes from.
        band, origin, axis = _eye_band(canvas, targets)
        luma = _luma(band)
        mirror = luma.size and lit_from_right(luma, axis, origin)
        template = job.template.mirrored() if mirror else job.template
        fit = fit_template(template, job.face, None if job.wears_mask else BARE_CHIN_OVERSHOOT)
        x0, y0, x1, y1 = fit.box
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            painted[i] = Painted((0, 0, 0, 0), np.zeros((0, 0), np.float32))
            continue
        box = (cx0, cy0, cx1, cy1)
        face_width = fit.eye_distance * FACE_WIDTH_PER_EYE_DISTANCE
        ratio = template.level_scale(fit.scale)
        level, k = template.level_image(fit.scale, blur=level_feather(template.eye_distance * FACE_WIDTH_PER_EYE_DISTANCE * ratio))
        art = warp_image(level, fit.mesh.scaled_src(k), box)
        # Soften the 8-bit art where it is still 8-bit (Pillow's blur in C), then go to float once.
        art_px = soften(art, face_width, estimate_blur(luma) if luma.size else 0.0)
        window = np.asarray(canvas.crop(box)).astype(np.float32) * np.float32(1 / 255)
        outline = np.array([targets[_IDX[n]] for n in (*_FACE_OUTLINE, "eye_right", "eye_left")])
        region = face_region_map(window.shape[:2], outline, (cx0, cy0), grow=fit.eye_distance * 0.25)
        rng = np.random.default_rng(job.seed)
        out, alpha = blend_mask(window, art_px, region, face_width=face_width, rng=rng)
        canvas.paste(Image.fromarray(np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8), "RGB"), box[:2])
        painted[i] = Painted(box, alpha if keep_alpha else np.zeros((0, 0), np.float32))
    return [p for p in painted if p is not None]


def _eye_band(canvas: Image.Image, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The eyes and brows above the mask (the sharpest detail a face reliably shows),
    with the eye midpoint in the patch's pixels and the unit eye-line direction."""
    el, er = targets[_IDX["eye_left"]], targets[_IDX["eye_right"]]
    d = max(float(np.linalg.norm(er - el)), 1e-6)
    w, h = canvas.size
    x0 = int(max(0, min(el[0], er[0]) - 0.45 * d))
    y0 = int(max(0, min(el[1], er[1]) - 0.45 * d))
    x1 = int(min(w, max(el[0], er[0]) + 0.45 * d))
    y1 = int(min(h, max(el[1], er[1]) + 0.2 * d))
    if d < 12 or x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3), np.uint8), np.zeros(2), np.array([1.0, 0.0])
    return np.asarray(canvas.crop((x0, y0, x1, y1))), (el + er) / 2 - np.array([x0, y0]), (er - el) / d


def _luma(rgb: np.ndarray) -> np.ndarray:
    return luma(rgb.astype(np.float32) / 255.0) if rgb.size else np.zeros((0, 0), np.float32)
