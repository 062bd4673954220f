"""Who wears a face mask: compare the lower face (nose to chin) with the same person's own skin.

A mask is a layer of something that is not skin over the nose and mouth: its
colour sits far from the skin seen on the same face (between the brows, at the
temples), and it is smooth. So per face we take a reference skin colour from
patches a mask never covers, and measure how much of the lower face still
looks like that skin in CIE Lab. Working relative to the person's own skin
makes it independent of skin tone and of the light in the photo.

Rekognition's FaceOccluded also fires for hands, phones and scarves; where a
detector gives it, it is averaged with this check so only face masks count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from batch_job.detect.base import SURVEY_LONG_SIDE, ImageSource
from batch_job.detect.face import Face
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


def assess(image: Image.Image, scale: float, face: Face) -> Wearing:
    """Decide for one face; ``image`` is an RGB copy of the photo at ``scale`` (face coordinates x scale)."""
    if not face.has_landmarks:
        return Wearing(False, 0.0, 1.0)
    fr = frame_of(face)
    targets = anchor_targets(face, overshoot=0.0, turn_push=False) * scale
    centre = (targets[_A["nose_tip"]] + targets[_A["mouth"]]) / 2
    # Lower face: from just under the nose tip to the chin, inside the jaw, pulled
    # in 20% towards its centre so background and hair at the edges stay out.
    ring = [targets[_A[n]] for n in ("jaw_left_nose", "nose_tip", "jaw_right_nose", "jaw_right_low", "chin", "jaw_left_low")]
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
