"""Paint fitted masks onto a photo: fit -> warp -> light and blend, face by face, back to front.

Only a window around each face is converted to float, so memory stays
proportional to the faces, not the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batch_job.composite import blend_mask, face_region_map
from batch_job.detect.face import Face
from batch_job.fit import fit_template
from batch_job.warp import warp
from masks.catalog import MaskTemplate

_FACE_OUTLINE = ("cheek_left", "jaw_left_nose", "jaw_left_low", "chin", "jaw_right_low", "jaw_right_nose", "cheek_right")


@dataclass(frozen=True)
class PaintJob:
    face: Face
    template: MaskTemplate
    seed: int  # for the grain noise: same photo, same seed -> same pixels


@dataclass
class Painted:
    """Where a mask landed: its window in the photo and its alpha there."""

    box: tuple[int, int, int, int]
    alpha: np.ndarray


def paint(pixels: np.ndarray, jobs: list[PaintJob], keep_alpha: bool = False) -> list[Painted]:
    """Paint every job onto ``pixels`` (H x W x 3 uint8, modified in place), largest face last.

    Larger faces are nearer the camera, so painting them last lets a near
    person's mask cover a far one's where they overlap.
    """
    h, w = pixels.shape[:2]
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].face.box.w * jobs[i].face.box.h)
    painted: list[Painted | None] = [None] * len(jobs)
    for i in order:
        job = jobs[i]
        fit = fit_template(job.template, job.face)
        x0, y0, x1, y1 = fit.box
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            painted[i] = Painted((0, 0, 0, 0), np.zeros((0, 0), np.float32))
            continue
        level, k = job.template.level(fit.scale)
        art = warp(level, fit.mesh.scaled_src(k), (cx0, cy0, cx1, cy1))
        window = pixels[cy0:cy1, cx0:cx1].astype(np.float32) / 255.0
        from batch_job.fit import anchor_targets
        from masks.catalog import ANCHOR_NAMES

        targets = anchor_targets(job.face, overshoot=0.0)
        idx = {n: j for j, n in enumerate(ANCHOR_NAMES)}
        outline = np.array([targets[idx[n]] for n in _FACE_OUTLINE] + [targets[idx["eye_right"]], targets[idx["eye_left"]]])
        region = face_region_map(window.shape[:2], outline, (cx0, cy0), grow=fit.eye_distance * 0.25)
        rng = np.random.default_rng(job.seed)
        out, alpha = blend_mask(window, art, region, face_width=fit.eye_distance * 2.1, rng=rng)
        pixels[cy0:cy1, cx0:cx1] = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
        painted[i] = Painted((cx0, cy0, cx1, cy1), alpha if keep_alpha else np.zeros((0, 0), np.float32))
    return [p for p in painted if p is not None]
