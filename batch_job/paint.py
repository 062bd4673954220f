"""Paint fitted masks onto a photo: fit -> warp -> light and blend, face by face, back to front.

Only a window around each face is converted to float, so memory stays
proportional to the faces, not the photo.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from batch_job.composite import blend_mask, estimate_blur, face_region_map, level_feather, lit_from_right, luma, soften
from batch_job.cover import worn_mask_reach
from batch_job.derived import Derived
from batch_job.detect.face import Face
from batch_job.errors import FaceError
from batch_job.fit import BARE_CHIN_OVERSHOOT, anchor_targets, face_to_fit, fit_problem, fit_template, frame_of
from batch_job.stages import timed
from batch_job.warp import Mesh, minification, warp_pixels
from masks.catalog import ANCHOR_INDEX as _IDX
from masks.catalog import MaskTemplate

log = logging.getLogger(__name__)

# The face's width (jaw to jaw) in eye distances: what the feather, shadow and light scale with.
FACE_WIDTH_PER_EYE_DISTANCE = 2.1
_FACE_OUTLINE = (
    "cheek_left",
    "jaw_left_nose",
    "jaw_left_low",
    "chin",
    "jaw_right_low",
    "jaw_right_nose",
    "cheek_right",
)


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
    error: str = ""  # why this face was not painted ("" when it was)


_NOTHING = Painted((0, 0, 0, 0), np.zeros((0, 0), np.float32), "not painted")
# A fit window wider or taller than this many face-box widths means the landmarks
# are not this face's (a mesh thrown across the photo): refuse rather than paint a smear.
MAX_FIT_PER_BOX = 6.0
# Faces narrower than this (px, jaw to jaw) are drawn supersampled: 4x under
# the first width, 2x under the second. Above, the cached level (at most 2x the
# output) is fine enough, and supersampling a 60 px face cost 0.5 s per crowd photo.
SUPERSAMPLE_BELOW_PX = (28, 48)
SUPERSAMPLE = 4


def paint(canvas: Image.Image, jobs: list[PaintJob], keep_alpha: bool = False) -> list[Painted]:
    """Paint every job onto the RGB image ``canvas`` (changed in place), largest face last.

    Larger faces are nearer the camera, so painting them last lets a near
    person's mask cover a far one's where they overlap. The image is edited
    window by window through crop and paste: a 12 MP photo is never copied.

    Returns one ``Painted`` per job, in the jobs' order. A face that cannot be
    fitted or painted leaves the photo as it was there and says why in its
    ``error``: one face's bad landmarks never cost the other faces or the photo.
    """
    order = sorted(range(len(jobs)), key=lambda i: jobs[i].face.box.w * jobs[i].face.box.h)
    painted: list[Painted] = [_NOTHING] * len(jobs)
    for i in order:
        try:
            painted[i] = _paint_one(canvas, jobs[i], keep_alpha)
        except FaceError as exc:
            painted[i] = Painted((0, 0, 0, 0), np.zeros((0, 0), np.float32), str(exc))
        except Exception as exc:
            # Geometry no test foresaw (a landmark set that folds the mesh into nothing,
            # a window Pillow refuses): this face's row says so, the photo goes on.
            log.exception("painting face %d failed", i)
            painted[i] = Painted(
                (0, 0, 0, 0), np.zeros((0, 0), np.float32), f"paint failed: {type(exc).__name__}: {exc}"
            )
    return painted


def _paint_one(canvas: Image.Image, job: PaintJob, keep_alpha: bool) -> Painted:
    w, h = canvas.size
    with timed("paint.fit"):
        face = face_to_fit(job.face)
        problem = fit_problem(face)
        if problem:
            raise FaceError(problem)
        targets = anchor_targets(face, overshoot=0.0, turn_push=False)
        # The eyes and brows, read once before this face is painted: they tell the
        # photo's focus and which side the light comes from.
        band, origin, axis = _eye_band(canvas, targets)
        luma = _luma(band)
        mirror = luma.size and lit_from_right(luma, axis, origin)
        template = job.template.mirrored() if mirror else job.template
        overshoot = None if job.wears_mask else BARE_CHIN_OVERSHOOT
        fit = fit_template(template, face, overshoot, worn=job.wears_mask)
        face_width = fit.eye_distance * FACE_WIDTH_PER_EYE_DISTANCE
        # A small face is drawn at SUPERSAMPLE x its size and box-reduced: the art's
        # detail and the triangles' edges are area-averaged instead of aliased.
        ss = SUPERSAMPLE if face_width < SUPERSAMPLE_BELOW_PX[0] else (2 if face_width < SUPERSAMPLE_BELOW_PX[1] else 1)
        level, k = _level(template, fit.scale * ss)
    if job.wears_mask:
        with timed("paint.reach"):
            # Landmarks under a mask are guesses: look at the worn mask and reach over all of it.
            reach = worn_mask_reach(canvas, frame_of(face), fit.targets, fit.mesh, (level, k), face.box)
            if reach is not None and reach.extended:
                fit = fit_template(template, face, overshoot, offsets=reach.offsets, worn=job.wears_mask)
    x0, y0, x1, y1 = fit.box
    box_w = max(face.box.w, face.box.h, 1.0)
    if (x1 - x0) > MAX_FIT_PER_BOX * box_w or (y1 - y0) > MAX_FIT_PER_BOX * box_w:
        raise FaceError(
            f"landmarks spread far beyond the face box (fit {x1 - x0}x{y1 - y0} px for a {box_w:.0f} px face)"
        )
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        raise FaceError("the fitted mask falls outside the photo")
    box = (cx0, cy0, cx1, cy1)
    with timed("paint.warp"):
        # The reach moves only the outline, not the eyes: the face's scale and level stay.
        mesh = Mesh(fit.mesh.src * k, fit.mesh.dst * ss, fit.mesh.triangles)
        finer, pick = _finer_levels(level, mesh)
        finer_px = [(_pixels(image), scale) for image, scale in finer]
        art = warp_pixels(_pixels(level), mesh, (cx0 * ss, cy0 * ss, cx1 * ss, cy1 * ss), finer_px, pick)
        if ss > 1:
            # An exact ss x ss box average (the window is a whole number of ss-blocks), as Pillow's reduce.
            art = cv2.resize(art, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_AREA)
    with timed("paint.focus"):
        # Soften the 8-bit art where it is still 8-bit, then go to float once.
        art_px = soften(art, face_width, estimate_blur(luma) if luma.size else 0.0)
    with timed("paint.blend"):
        window = np.asarray(canvas.crop(box))
        outline = np.array([targets[_IDX[n]] for n in (*_FACE_OUTLINE, "eye_right", "eye_left")])
        region = face_region_map(window.shape[:2], outline, (cx0, cy0), grow=fit.eye_distance * 0.25)
    rng = np.random.default_rng(job.seed)
    out, alpha = blend_mask(window, art_px, region, face_width=face_width, rng=rng)
    with timed("paint.blend"):
        canvas.paste(Image.fromarray(out, "RGB"), box[:2])
    return Painted(box, alpha if keep_alpha else np.zeros((0, 0), np.float32))


def _level(template: MaskTemplate, scale: float) -> tuple[Image.Image, float]:
    """The cached art level for output ``scale`` (template px -> output px), feathered for it."""
    ratio = template.level_scale(scale)
    return template.level_image(scale, blur=level_feather(template.eye_distance * FACE_WIDTH_PER_EYE_DISTANCE * ratio))


# A triangle that reads more than this many level pixels per output pixel along
# its most squeezed side aliases (the level is chosen for the face as a whole).
MAX_SQUEEZE = 2.5


def _finer_levels(level: Image.Image, mesh: Mesh) -> tuple[list[tuple[Image.Image, float]], np.ndarray]:
    """Box-reduced copies of ``level`` for the triangles squeezed far more than the face (the far side
    in profile). Reduced from the face's own level, not read from the level cache: a cache level per
    squeeze churned the cache and cost a PNG decode a face (4 s on 60 real photos)."""
    squeeze = minification(mesh)
    pick = np.zeros(len(mesh.triangles), dtype=np.int64)
    finer: list[tuple[Image.Image, float]] = []
    index: dict[int, int] = {}
    for i in np.nonzero(squeeze > MAX_SQUEEZE)[0]:
        factor = 2 ** int(np.ceil(np.log2(squeeze[i] / 2)))
        if factor not in index:
            finer.append(_reduced(level, factor))
            index[factor] = len(finer)
        pick[i] = index[factor]
    return finer, pick


# The pixels of the cached levels as arrays, kept with their level: numpy's view of a Pillow
# image is a copy (0.6 ms for a 400 px face's level), and the same levels serve a whole album.
# A level is up to 3.7 MB: a few of them, and none past its level's life.
_PIXELS: Derived[np.ndarray] = Derived(8, max_bytes=12 << 20)


def _pixels(image: Image.Image) -> np.ndarray:
    return _PIXELS.get(image, None, lambda: np.asarray(image))


# Reduced copies of the cached levels, kept with the level they came from (a profile photo
# set paints the same level's far side again and again; a reduce was 1-3 ms a face).
_REDUCED: Derived[tuple[Image.Image, float]] = Derived(16, max_bytes=8 << 20)


def _reduced(level: Image.Image, factor: int) -> tuple[Image.Image, float]:
    def make() -> tuple[Image.Image, float]:
        reduced = level.reduce(factor)
        return reduced, reduced.width / level.width

    return _REDUCED.get(level, factor, make)


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
