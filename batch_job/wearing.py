"""Who wears a face mask: compare the lower face (nose to chin) with the same person's own skin.

A mask is a layer of something that is not skin over the nose and mouth: its
colour sits far from the skin seen on the same face (between the brows, at the
temples), and it is smooth. So per face we take a reference skin colour from
patches a mask never covers, and measure how much of the lower face still
looks like that skin in CIE Lab. Working relative to the person's own skin
makes it independent of skin tone and of the light in the photo.

Rekognition's FaceOccluded also fires for hands, phones and scarves; where a
detector gives it, it is averaged with this check so only face masks count.

That rule alone missed coloured and patterned cloth, KN95s, profiles and
blurred crowd faces on real photos, and called hair and objects masked. For the
local detector's faces the decision is now a small learned check
(``assess``: gradient-boosted trees in ``models/wearing.onnx``, fitted on
labelled real photos by bench/train_wearing.py) that reads the rule's skin
fraction as one input among the face's colours, edges and detection scores,
whether its landmarks sit like a face's, and what a face-mask detector
(AIZOOTech's, ``models/aizoo_mask.onnx``) says about a crop around it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from batch_job.detect.base import SURVEY_LONG_SIDE, ImageSource
from batch_job.detect.face import REQUIRED_LANDMARKS, Face
from batch_job.errors import DetectorError
from batch_job.fit import anchor_targets, frame_of
from masks.catalog import ANCHOR_INDEX as _A

# A lower-face pixel within this Lab distance of the reference skin counts as skin.
SKIN_DELTA_E = 12.0
THRESHOLD = 0.5
# Reference patches in eye distances (x, y, radius) from the midpoint between the eyes.
_REFERENCE_PATCHES = ((0.0, -0.12, 0.11), (0.0, -0.45, 0.16), (-0.78, -0.05, 0.09), (0.78, -0.05, 0.09))


@dataclass(frozen=True)
class Wearing:
    masked: bool
    score: float  # 0 (bare face) .. 1 (certainly masked)
    skin_fraction: float  # of the lower face, for diagnostics


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in 0..1 (N x 3) to CIE Lab (D65)."""
    c = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def is_skin(lab: np.ndarray) -> np.ndarray:
    """Lab colours in the range human skin takes under ordinary light, any tone (N x 3 -> N bool)."""
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    return (lab[:, 0] > 12) & (lab[:, 0] < 96) & (chroma > 7) & (chroma < 60) & (hue > 22) & (hue < 88)


def _pixels_in(image: Image.Image, polygon: list[tuple[float, float]]) -> np.ndarray:
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    x1, y1 = min(image.width, int(max(xs)) + 2), min(image.height, int(max(ys)) + 2)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((0, 3))
    crop = np.asarray(image.crop((x0, y0, x1, y1)), dtype=np.float64) / 255.0
    sel = Image.new("L", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(sel).polygon([(x - x0, y - y0) for x, y in polygon], fill=255)
    return crop[np.asarray(sel) > 127]


def _circle(centre: np.ndarray, r: float, n: int = 16) -> list[tuple[float, float]]:
    cx, cy = centre
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in t]


# The copy a face is judged on: the local detector's survey copy (SURVEY_LONG_SIDE,
# so already decoded) when the face is at least this wide there, else the full photo.
VIEW_MIN_FACE_PX = 48


def view(source: ImageSource, face: Face) -> tuple[Image.Image, float]:
    """The smallest already-made copy of the photo that shows ``face`` in enough detail, and its scale."""
    image, scale = source.at_most(SURVEY_LONG_SIDE)
    if face.box.w * scale >= VIEW_MIN_FACE_PX or scale >= 1.0:
        return image, scale
    return source.at_most(max(source.size))


def assess_rule(image: Image.Image, scale: float, face: Face) -> Wearing:
    """Decide for one face; ``image`` is an RGB copy of the photo at ``scale`` (face coordinates x scale)."""
    if not face.has_landmarks:
        return Wearing(False, 0.0, 1.0)
    fr = frame_of(face)
    targets = anchor_targets(face, overshoot=0.0, turn_push=False) * scale
    centre = (targets[_A["nose_tip"]] + targets[_A["mouth"]]) / 2
    # Lower face: from just under the nose tip to the chin, inside the jaw, pulled
    # in 20% towards its centre so background and hair at the edges stay out.
    ring = [
        targets[_A[n]] for n in ("jaw_left_nose", "nose_tip", "jaw_right_nose", "jaw_right_low", "chin", "jaw_left_low")
    ]
    ring[1] = ring[1] + fr.ey * 0.08 * fr.d * scale
    lower = [tuple(centre + (p - centre) * 0.8) for p in ring]
    lower_px = _pixels_in(image, lower)
    origin = fr.origin * scale
    ref_px = [
        _pixels_in(image, _circle(origin + (fr.ex * x + fr.ey * y) * fr.d * scale, r * fr.d * scale))
        for x, y, r in _REFERENCE_PATCHES
    ]
    ref_px = [p for p in ref_px if len(p) >= 3]
    if len(lower_px) < 12 or not ref_px:
        return Wearing(False, 0.0, 1.0)
    lower_lab = srgb_to_lab(lower_px)
    skin = is_skin(lower_lab)
    # The person's own skin, where a mask never reaches: the most skin-like
    # patch (hair, hats and glasses cover some of them).
    refs = [np.median(srgb_to_lab(p), axis=0) for p in ref_px]
    plausible = [r for r in refs if is_skin(r[None, :])[0]]
    if plausible:
        reference = max(plausible, key=lambda r: float(np.hypot(r[1], r[2])))
        # Light varies across a face: compare chroma fully, lightness at half weight.
        diff = lower_lab - reference
        delta = np.sqrt((diff[:, 0] * 0.5) ** 2 + diff[:, 1] ** 2 + diff[:, 2] ** 2)
        skin |= delta < SKIN_DELTA_E
    skin_fraction = float(np.mean(skin))
    score = 1.0 - skin_fraction
    if face.occluded is not None:
        score = 0.5 * score + 0.5 * float(face.occluded)
    return Wearing(score >= THRESHOLD, round(score, 4), round(skin_fraction, 4))


# The learned check's input: the face box, squared and turned level with the
# eye line, sampled at PATCH x PATCH; see ``features``.
PATCH = 32
_CELL = 4  # Lab means over 4x4 cells: an 8 x 8 grid
# Where the colour rule's skin fraction sits in the feature vector (grid, reference, gradients before it).
SKIN_FEATURE = (PATCH // _CELL) ** 2 * 3 + 3 + 4 * 4 * 6


def aligned_patch(image: Image.Image, scale: float, face: Face, size: int = PATCH) -> np.ndarray:
    """The face's box as a ``size`` x ``size`` RGB array (0..1), level with the eye line when landmarks give one."""
    b = face.box
    cx, cy = (b.x + b.w / 2) * scale, (b.y + b.h / 2) * scale
    side = max(b.w, b.h) * scale
    angle = 0.0
    if "eyeLeft" in face.landmarks and "eyeRight" in face.landmarks:
        el, er = face.landmarks["eyeLeft"], face.landmarks["eyeRight"]
        angle = float(np.clip(np.arctan2(er.y - el.y, er.x - el.x), -0.8, 0.8))
    # Reduce a large face with a box filter first: the affine sampling below does not filter.
    reach = side * 0.75
    x0, y0 = int(np.floor(cx - reach)), int(np.floor(cy - reach))
    x1, y1 = int(np.ceil(cx + reach)), int(np.ceil(cy + reach))
    region = image.crop((x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)))
    k = max(1, int(side / (size * 2)))
    if k > 1:
        region = region.reduce(k)
    s = side / k / size
    c, n = np.cos(angle) * s, np.sin(angle) * s
    ccx, ccy = (cx - x0) / k, (cy - y0) / k
    half = size / 2
    m = (c, -n, ccx - c * half + n * half, n, c, ccy - n * half - c * half)
    patch = region.transform((size, size), Image.Transform.AFFINE, m, resample=Image.Resampling.BILINEAR)
    return np.asarray(patch, dtype=np.float64) / 255.0


def features(image: Image.Image, scale: float, face: Face, rule: Wearing) -> np.ndarray:
    """What the learned check reads (float32 vector); see ``patch_features``."""
    mask_scores = mask_detector_features(mask_crop(image, scale, face))
    return patch_features(aligned_patch(image, scale, face), rule.skin_fraction, face, mask_scores)


def patch_features(patch: np.ndarray, skin_fraction: float, face: Face, mask_scores: list[float]) -> np.ndarray:
    """All relative to the face itself:

    - Lab means on an 8 x 8 grid over the aligned box, minus the face's own
      reference (the median of the grid's upper-middle cells: forehead and eyes,
      which a mask never covers), so skin tone and light cancel out;
    - the reference itself (a mask reads differently on dark and light skin);
    - gradient orientation histograms (4 x 4 cells, 6 bins) over the box's
      mean gradient (a mask is smooth and has horizontal pleats and edges,
      a mouth and nostrils are edges of their own);
    - the colour rule's skin fraction, and the detection's own features;
    - the mask detector's scores (``mask_detector_features``).
    """
    lab = srgb_to_lab(patch.reshape(-1, 3)).reshape(PATCH, PATCH, 3)
    g = PATCH // _CELL
    cells = lab.reshape(g, _CELL, g, _CELL, 3).mean(axis=(1, 3))
    reference = np.median(cells[1:3, 2:6].reshape(-1, 3), axis=0)
    gy, gx = np.gradient(lab[..., 0])
    mag = np.hypot(gx, gy)
    bins = ((np.arctan2(gy, gx) % np.pi) / np.pi * 6).astype(int) % 6
    q = PATCH // 4
    hog = np.zeros((4, 4, 6))
    for b in range(6):
        hog[..., b] = np.where(bins == b, mag, 0.0).reshape(4, q, 4, q).sum(axis=(1, 3))
    hog = hog / (mag.sum() / 16 + 1e-6)
    return np.concatenate([
        ((cells - reference) / 20.0).ravel(),
        reference / 50.0,
        hog.ravel(),
        [skin_fraction],
        _detection_features(face),
        mask_scores,
    ]).astype(np.float32)  # fmt: skip


def _detection_features(face: Face) -> list[float]:
    """How sure the detectors are it is a face at all, and how the eyes sit in the box.

    On the real-photo set, detections matching no labelled face (hair, the tops
    of heads, poles, bags) score 0.33-0.55 with CenterFace and near 0 with
    FaceMesh, but so do a quarter of masked faces with FaceMesh (its score
    collapses under a mask): no single threshold separates them, the learned
    check weighs them with the pixels.
    """
    b = face.box
    el, er = face.landmarks["eyeLeft"], face.landmarks["eyeRight"]
    return [
        face.score,
        1.0 if face.mesh_score is None else face.mesh_score,
        math.hypot(er.x - el.x, er.y - el.y) / max(b.w, 1e-6),
        ((el.x + er.x) / 2 - b.x) / max(b.w, 1e-6),
        ((el.y + er.y) / 2 - b.y) / max(b.h, 1e-6),
        math.log2(max(b.w, 1.0)),
        abs(face.pose.yaw) / 90.0,
        *_plausibility(face),
    ]


def _plausibility(face: Face) -> list[float]:
    """Whether the landmarks sit like a face's: on hair or an object FaceMesh still
    draws a face, but squashed, tilted against the box or spilling out of it.

    Nose, mouth and chin along the eye line's normal in eye distances
    (labelled faces of the development set: medians 0.7, 1.0-1.1, 1.6-1.8),
    the nose's offset along it, the eye line's tilt, and the share of the
    fitting's landmarks inside the box grown by a tenth on each side (a
    tenth of the detections matching no labelled face have 30 % or more
    outside it; of labelled faces, 10 %).
    """
    el, er = face.landmarks["eyeLeft"], face.landmarks["eyeRight"]
    d = max(math.hypot(er.x - el.x, er.y - el.y), 1e-6)
    ex, ey = (er.x - el.x) / d, (er.y - el.y) / d
    mx, my = (el.x + er.x) / 2, (el.y + er.y) / 2

    def down(name: str) -> float:
        p = face.landmarks[name]
        return ((p.x - mx) * -ey + (p.y - my) * ex) / d

    nose = face.landmarks["nose"]
    mouth = face.landmarks["mouthLeft"].lerp(face.landmarks["mouthRight"], 0.5)
    b = face.box
    x0, y0, x1, y1 = b.x - b.w * 0.1, b.y - b.h * 0.1, b.x + b.w * 1.1, b.y + b.h * 1.1
    names = [n for n in REQUIRED_LANDMARKS if n in face.landmarks]
    inside = sum(x0 <= face.landmarks[n].x <= x1 and y0 <= face.landmarks[n].y <= y1 for n in names)
    return [
        down("nose"),
        ((mouth.x - mx) * -ey + (mouth.y - my) * ex) / d,
        down("chinBottom"),
        abs((nose.x - mx) * ex + (nose.y - my) * ey) / d,
        abs(math.atan2(ey, ex)),
        inside / max(len(names), 1),
    ]


# A second opinion from a detector trained for exactly this question:
# AIZOOTech's face-mask SSD (MIT; models/aizoo_mask.md), run on a square crop
# MASK_CROP face sides wide around the face at MASK_SIDE px. Trained at 260 px;
# at 128 px, cut down to the class scores of its first four levels
# (bench/convert_aizoo.py), it costs about 4 ms a face, less than one FaceMesh
# run, and read as features by the learned check it helped about as much.
MASK_MODEL = "aizoo_mask.onnx"
MASK_SIDE = 128
MASK_CROP = 2.0
# Its anchors (from the authors' code), per level: sizes as fractions of the
# input side; the first size at three aspect ratios, the second at ratio 1.
# Only the centres matter here; the order is the model's (row, column, anchor).
_MASK_SIZES = ((0.04, 0.056), (0.08, 0.11), (0.16, 0.22), (0.32, 0.45))
_MASK_PER_CELL = 4


@lru_cache(maxsize=4)
def _mask_anchor_centres(side: int) -> np.ndarray:
    """(N, 2) anchor centres (x, y in 0..1) of the cut-down model at input ``side``, in its output order."""
    maps = [math.ceil(side / 8)]
    while len(maps) < len(_MASK_SIZES):
        maps.append(math.ceil(maps[-1] / 2))
    out = []
    for n in maps:
        c = (np.arange(n) + 0.5) / n
        cy, cx = np.meshgrid(c, c, indexing="ij")
        out.append(np.repeat(np.stack([cx.ravel(), cy.ravel()], axis=1), _MASK_PER_CELL, axis=0))
    return np.concatenate(out)


@lru_cache(maxsize=1)
def _mask_detector():
    from batch_job.detect.local import onnx_session

    session = onnx_session(MASK_MODEL, 1)
    return session, session.get_inputs()[0].name


def mask_crop(
    image: Image.Image, scale: float, face: Face, side: int = MASK_SIDE, face_sides: float = MASK_CROP
) -> np.ndarray:
    """The square ``face_sides`` face sides wide around ``face`` the mask detector reads: 1 x 3 x side x side,
    RGB in 0..1 (black past the edges)."""
    b = face.box
    cx, cy = (b.x + b.w / 2) * scale, (b.y + b.h / 2) * scale
    half = max(b.w, b.h) * scale * face_sides / 2
    box = (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))
    if box[2] - box[0] < 2:
        box = (box[0], box[1], box[0] + 2, box[1] + 2)
    crop = image.crop(box).resize((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return (np.asarray(crop, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]


def mask_detector_features(crop: np.ndarray) -> list[float]:
    """What the mask detector says about the face at the centre of ``crop``.

    Its "mask" and "no mask" scores at its surest anchor centred on the face
    (within the middle 60 % of the face box), and its highest of each
    anywhere in the crop (a neighbour's face may be there too, so both).
    """
    session, name = _mask_detector()
    (cls,) = session.run(None, {name: crop})
    centres = _mask_anchor_centres(crop.shape[-1])
    cls = cls[0].astype(np.float64)
    if len(centres) != len(cls):
        raise DetectorError(
            f"mask detector gave {len(cls)} anchors for a {crop.shape[-1]} px crop, expected {len(centres)}"
        )
    reach = 0.3 / MASK_CROP  # the face box spans 1 / MASK_CROP of the crop, centred
    on_face = np.all(np.abs(centres - 0.5) <= reach, axis=1)
    best = np.flatnonzero(on_face)[np.argmax(cls[on_face].max(axis=1))]
    at_face = [float(cls[best, 0]), float(cls[best, 1])]
    return at_face + [float(cls[:, 0].max()), float(cls[:, 1].max())]


# The learned check (bench/train_wearing.py fits it on labelled real photos and
# reports its figures cross-validated by photo). Its probability at or above
# this calls a face masked: the lowest threshold that calls at most 3 % of bare
# faces masked in cross-validation (issue 8's target; train_wearing.py
# --folds prints it). There, per detected face: 90.4 % of masked faces, 2.8 %
# of bare faces and 5.2 % of detections matching no labelled face; at 0.3,
# 91.7 % / 4.8 % / 6.4 % (the check before the mask detector's scores and the
# plausibility features: 91.6 % / 6.1 % / 7.5 % at 0.3).
LEARNED_THRESHOLD = 0.45
MODEL_NAME = "wearing.onnx"


@lru_cache(maxsize=1)
def _classifier():
    from batch_job.detect.local import onnx_session

    # Benchmarks only: bench/real_photos.py --folds runs each held-out fold with the
    # model fitted without it, so no figure comes from photos the model saw.
    override = os.environ.get("MASKALBUM_BENCH_WEARING_MODEL")
    session = onnx_session(MODEL_NAME, 1, Path(override).read_bytes() if override else None)
    return session, session.get_inputs()[0].name


def learned_probability(feature_rows: np.ndarray) -> np.ndarray:
    """P(masked) per row of ``features`` output (N x F float32)."""
    session, name = _classifier()
    outputs = session.run(None, {name: np.asarray(feature_rows, dtype=np.float32)})
    return np.asarray(outputs[1], dtype=np.float64)[:, 1]


def assess(image: Image.Image, scale: float, face: Face) -> Wearing:
    """Decide for one face: the learned check over the aligned face and the colour rule's reading.

    The learned check was fitted on the local detector's faces (its boxes,
    scores and FaceMesh points); a face from another detector (Rekognition: no
    ``mesh_score``) keeps the colour rule, averaged with that detector's own
    occlusion evidence.
    """
    rule = assess_rule(image, scale, face)
    if face.mesh_score is None or not face.has_landmarks:
        return rule
    p = float(learned_probability(features(image, scale, face, rule)[None, :])[0])
    return Wearing(p >= LEARNED_THRESHOLD, round(p, 4), rule.skin_fraction)
