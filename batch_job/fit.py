"""Geometry: where each mask anchor lands on a face, and the triangle mesh that carries the template there.

Pure functions of landmarks; no pixels. The mesh has 12 anchors inside (eyes,
nose bridge and tip, mouth, chin, and three points down each side of the jaw)
and a ring of points outside them, extrapolated along rays from the face's
centre, so straps and edges beyond the anchors follow the same local motion:
on a turned face the far side is compressed and the near side stretched, with
no single scale or homography.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from batch_job.derived import Derived
from batch_job.detect.face import Box, Face, Point
from batch_job.warp import Mesh
from masks.catalog import ANCHOR_INDEX as _A
from masks.catalog import ANCHOR_NAMES, MaskTemplate

# Under a surgical mask, landmark models put the chin high (FaceMesh by
# 0.15-0.43 eye distances, measured): push the chin target down this much.
# On synthetic heads 0.15 left 3.5% of the white mask visible at the 90th
# percentile, 0.30 left 1.1% but moved the mask centre down; 0.25 balances the
# two (docs/QUALITY.md). A bare face (--all-faces)
# has its real chin where the landmarks say, so it gets the small value.
CHIN_OVERSHOOT = 0.25
BARE_CHIN_OVERSHOOT = 0.08
# The jaw contour bulges outward between the upper and middle jaw landmarks.
JAW_BULGE = 0.03
# On a turned face the far side's jaw landmarks sit inside the white mask that
# wraps round the cheek: push the far side out by this many eye distances per
# unit of turn (_turn). On 3D heads at 30-45 degrees this cut the white left
# visible at the 90th percentile from 9% to 1-3% and centred the mask better;
# pushing the near side instead did neither (bench/quality.py).
FAR_SIDE_PUSH = 0.3
# Each side's outline anchors stay at least this far (eye distances) out from
# the nose-mouth line at their height. In profile, FaceMesh puts the far jaw
# across the nose: the mesh folded and drew the art's far side mirrored over
# its near side, a torn crease on the real photos.
MIN_SIDE = 0.2

# Inner triangles over the canonical layout (see masks/catalog.py CANONICAL).
_INNER = [
    ("eye_left", "eye_right", "nose_bridge"),
    ("cheek_left", "eye_left", "nose_bridge"),
    ("nose_bridge", "eye_right", "cheek_right"),
    ("cheek_left", "nose_bridge", "jaw_left_nose"),
    ("nose_bridge", "nose_tip", "jaw_left_nose"),
    ("nose_bridge", "cheek_right", "jaw_right_nose"),
    ("nose_bridge", "jaw_right_nose", "nose_tip"),
    ("jaw_left_nose", "nose_tip", "mouth"),
    ("jaw_left_nose", "mouth", "jaw_left_low"),
    ("nose_tip", "jaw_right_nose", "mouth"),
    ("mouth", "jaw_right_nose", "jaw_right_low"),
    ("jaw_left_low", "mouth", "chin"),
    ("mouth", "jaw_right_low", "chin"),
]
# The outline, in order round the face.
_HULL = ["cheek_left", "eye_left", "eye_right", "cheek_right", "jaw_right_nose", "jaw_right_low",
         "chin", "jaw_left_low", "jaw_left_nose"]  # fmt: skip
# How far the ring reaches, as a multiple of the anchor's distance from the centre.
RING_REACH = 1.9


@dataclass(frozen=True)
class FaceFrame:
    """The face's own axes: origin between the eyes, x along the eye line, y down the face; d = eye distance."""

    origin: np.ndarray
    ex: np.ndarray
    ey: np.ndarray
    d: float

    def height(self, p: np.ndarray) -> float:
        return float((p - self.origin) @ self.ey) / self.d


# Below this eye distance (px) two eye points say nothing about the face's size or angle.
MIN_EYE_DISTANCE = 1.5


def fit_problem(face: Face) -> str:
    """Why ``face`` cannot be fitted, or "" when it can (a reason for its faces.csv row)."""
    if not face.has_landmarks:
        return "no landmarks"
    points = np.array([[p.x, p.y] for p in face.landmarks.values()], dtype=np.float64)
    if not np.isfinite(points).all():
        return "landmarks not finite"
    if face.eye_distance < MIN_EYE_DISTANCE:
        return f"eyes {face.eye_distance:.1f} px apart: too close to fit"
    return ""


# Faces narrower than this (px) are fitted from their eyes and box alone
# (simple_face): FaceMesh's jaw and chin on a face this small move by a
# quarter of the face between neighbouring frames, its eye centres much less.
SIMPLE_FIT_PX = 24
# The canonical frontal face as landmarks (eye distances from the eye midpoint,
# x right, y down): the layout the mask art is drawn for, which a simple fit places.
CANONICAL_LANDMARKS = {
    "eyeLeft": (-0.5, 0.0), "eyeRight": (0.5, 0.0), "nose": (0.0, 0.6), "mouthLeft": (-0.35, 1.0),
    "mouthRight": (0.35, 1.0), "mouthUp": (0.0, 0.9), "mouthDown": (0.0, 1.1),
    "upperJawlineLeft": (-1.06, 0.25), "midJawlineLeft": (-0.87, 1.1), "chinBottom": (0.0, 1.62),
    "midJawlineRight": (0.87, 1.1), "upperJawlineRight": (1.06, 0.25),
}  # fmt: skip
# A face box is about this many eye distances wide (CenterFace, frontal), and
# its eye line sits this far down it: the fallback when the eyes are implausible.
BOX_WIDTH_PER_EYE_DISTANCE = 2.3
BOX_EYE_LINE = 0.4


def simple_face(face: Face, trust_eyes: bool = True) -> Face:
    """The face as the canonical frontal layout placed by its eyes (roll, size) and box alone.

    The eyes are used when they are plausible for the box (eye distance a fifth
    to two thirds of its width, midpoint inside it); otherwise the box gives an
    upright face. The eye distance is never taken under a third of the box
    width, so a small face in profile keeps a mask as wide as its head.
    """
    box = face.box
    width = max(box.w, 1.0)
    lm = face.landmarks
    eyes = None
    if trust_eyes and "eyeLeft" in lm and "eyeRight" in lm:
        el, er = _np(lm["eyeLeft"]), _np(lm["eyeRight"])
        d = float(np.linalg.norm(er - el))
        mid = (el + er) / 2
        inside = box.x <= mid[0] <= box.x + box.w and box.y <= mid[1] <= box.y + box.h
        if np.isfinite(d) and 0.2 * width <= d <= 0.67 * width and inside:
            eyes = (mid, (er - el) / d, d)
    if eyes is None:
        eyes = (
            np.array([box.x + box.w / 2, box.y + BOX_EYE_LINE * box.h]),
            np.array([1.0, 0.0]),
            width / BOX_WIDTH_PER_EYE_DISTANCE,
        )
    mid, ex, d = eyes
    d = max(d, width / 3)
    ey = np.array([-ex[1], ex[0]])
    points = {name: Point(*(mid + (ex * x + ey * y) * d)) for name, (x, y) in CANONICAL_LANDMARKS.items()}
    return Face(box, face.score, points, face.pose, face.occluded)


def face_to_fit(face: Face) -> Face:
    """The face the mask is fitted to: its landmarks, or its eyes and box (simple_face) for a
    small face, and its box alone for landmarks that are not this upright face's (the mouth off
    the detected face, or the face's down axis tilted far from an upright box's)."""
    if face.has_landmarks and (_mouth_off_box(face) or _tilted_in_upright_box(face)):
        # The eyes come from the same misplaced mesh: the box alone places the face.
        return simple_face(face, trust_eyes=False)
    return simple_face(face) if face.box.w < SIMPLE_FIT_PX else face


# The nose-mouth centre may sit this far (box widths) outside the face box before
# the landmarks count as another head's: on the real-photo set, FaceMesh put 11 of
# 1165 faces (>= 24 px) there, masks on the back of a head in profile or on hair, while
# true profiles reach 1.0 (the nose at the box's edge).
OFF_BOX = 0.12


# The landmarks' down axis (eye midpoint to chin) may lean this far (degrees) from the image's
# vertical in a box at least as tall as it is wide. On the real-photo set, of the 899 replaced
# faces with a segmented mask, the 18 leaning 40 degrees or more were FaceMesh on an ear, the back
# of a head or upside down on an upright head (a median 72-90 % of their worn mask left in view,
# against 9 % under 20 degrees); a head really lying on its side gets a box wider than tall
# (every upright face's box on the set: height >= 1.04 x width, 5th percentile).
MAX_TILT_IN_UPRIGHT_BOX = 40.0


def _tilted_in_upright_box(face: Face) -> bool:
    b = face.box
    if b.h < b.w:
        return False
    lm = face.landmarks
    eyes = (_np(lm["eyeLeft"]) + _np(lm["eyeRight"])) / 2
    down = _np(lm["chinBottom"]) - eyes
    if not np.isfinite(down).all() or float(np.hypot(*down)) < 1e-6:
        return False
    return float(np.degrees(np.arctan2(abs(down[0]), down[1]))) > MAX_TILT_IN_UPRIGHT_BOX


def _mouth_off_box(face: Face) -> bool:
    lm = face.landmarks
    c = _np(lm["nose"]) * 0.6 + (_np(lm["mouthLeft"]) + _np(lm["mouthRight"])) / 2 * 0.4
    b = face.box
    if not np.isfinite(c).all() or b.w <= 0 or b.h <= 0:
        return False
    rx, ry = (c[0] - b.x) / b.w, (c[1] - b.y) / b.h
    return not (-OFF_BOX <= rx <= 1 + OFF_BOX and -OFF_BOX <= ry <= 1 + OFF_BOX)


def frame_of(face: Face) -> FaceFrame:
    el = _np(face.landmarks["eyeLeft"])
    er = _np(face.landmarks["eyeRight"])
    d = float(np.linalg.norm(er - el))
    if d < 1e-6:
        raise ValueError("eyes coincide")
    ex = (er - el) / d
    ey = np.array([-ex[1], ex[0]])
    # The landmarks' own down direction (eyes to chin) decides which way is
    # "down" for a face shown upside down; the eye line alone cannot.
    chin = _np(face.landmarks["chinBottom"])
    if not (np.isfinite(d) and np.isfinite(chin).all()):
        raise ValueError("landmarks not finite")
    if (chin - (el + er) / 2) @ ey < 0:
        ey = -ey
    return FaceFrame((el + er) / 2, ex, ey, d)


def _np(p: Point) -> np.ndarray:
    return np.array([p.x, p.y], dtype=np.float64)


def _on_jaw_at_height(
    upper: np.ndarray, lower: np.ndarray, h: float, frame: FaceFrame, outward: np.ndarray
) -> np.ndarray:
    """The point of the jaw line (upper -> lower landmark) at height ``h``, nudged outward for the bulge."""
    hu, hl = frame.height(upper), frame.height(lower)
    t = 0.5 if abs(hl - hu) < 1e-6 else (h - hu) / (hl - hu)
    t = float(np.clip(t, -0.6, 1.4))
    bulge = JAW_BULGE * frame.d * (1 - (2 * t - 1) ** 2) if 0 <= t <= 1 else 0.0
    return upper + (lower - upper) * t + outward * bulge


def anchor_targets(face: Face, overshoot: float | None = None, turn_push: bool = True, worn: bool = True) -> np.ndarray:
    """Target pixel of every anchor (rows in ``ANCHOR_NAMES`` order) for ``face``.

    ``overshoot`` and ``turn_push`` widen the mask beyond the landmarks to
    cover a surgical mask; measuring the face itself (who wears a mask) turns both off.
    ``worn``: the face wears a mask, so its chin reaches at least its box's bottom (_chin_to_box).
    """
    overshoot = CHIN_OVERSHOOT if overshoot is None else overshoot
    lm = {k: _np(v) for k, v in face.landmarks.items()}
    fr = frame_of(face)
    nose = lm["nose"]
    mouth = (lm["mouthLeft"] + lm["mouthRight"]) / 2
    if "mouthUp" in lm and "mouthDown" in lm:
        mouth = (mouth + (lm["mouthUp"] + lm["mouthDown"]) / 2) / 2
    chin = lm["chinBottom"] + fr.ey * overshoot * fr.d
    if turn_push and worn:
        chin = _chin_to_box(chin, fr, face.box)
    nose_bridge = fr.origin + (nose - fr.origin) * 0.42
    h_bridge = fr.height(nose_bridge)
    h_nose = fr.height(nose)
    out_l, out_r = -fr.ex, fr.ex
    turn = _turn(lm, fr) if turn_push else 0.0
    push_l = FAR_SIDE_PUSH * max(-turn, 0.0) * fr.d  # the left is the far side when the nose points left
    push_r = FAR_SIDE_PUSH * max(turn, 0.0) * fr.d
    targets = {
        "eye_left": lm["eyeLeft"],
        "eye_right": lm["eyeRight"],
        "nose_bridge": nose_bridge,
        "nose_tip": nose,
        "mouth": mouth,
        "chin": chin,
        # Detectors disagree on how high "upper jawline" sits (FaceMesh: a quarter
        # eye distance under the eyes; Rekognition: at eye level), so read the
        # jaw line at the heights of our own anchors instead of trusting either.
        "cheek_left": _on_jaw_at_height(lm["upperJawlineLeft"], lm["midJawlineLeft"], h_bridge, fr, out_l),
        "cheek_right": _on_jaw_at_height(lm["upperJawlineRight"], lm["midJawlineRight"], h_bridge, fr, out_r),
        "jaw_left_nose": _on_jaw_at_height(lm["upperJawlineLeft"], lm["midJawlineLeft"], h_nose, fr, out_l),
        "jaw_right_nose": _on_jaw_at_height(lm["upperJawlineRight"], lm["midJawlineRight"], h_nose, fr, out_r),
        "jaw_left_low": lm["midJawlineLeft"],
        "jaw_right_low": lm["midJawlineRight"],
    }
    for name in ("cheek_left", "jaw_left_nose", "jaw_left_low"):
        targets[name] = targets[name] + out_l * push_l
    for name in ("cheek_right", "jaw_right_nose", "jaw_right_low"):
        targets[name] = targets[name] + out_r * push_r
    middle = {"cheek": targets["nose_bridge"], "jaw": targets["nose_tip"]}
    # Only for the fit: measuring the face itself (who wears a mask) reads the landmarks as they are.
    for side, sign in (("left", -1.0), ("right", 1.0)) if turn_push else ():
        for name, ref in ((f"cheek_{side}", "cheek"), (f"jaw_{side}_nose", "jaw"), (f"jaw_{side}_low", "mouth")):
            centre = middle.get(ref, targets["mouth"])
            short = MIN_SIDE * fr.d - sign * float((targets[name] - centre) @ fr.ex)
            if short > 0:
                targets[name] = targets[name] + fr.ex * sign * short
    return np.array([targets[name] for name in ANCHOR_NAMES])


# A masked face's chin target is never above this share of its detector box's height: on blurred
# faces FaceMesh squashes the lower face (dev 074, a blurred 208 px face: the chin at 0.87 of the
# box, the worn mask showing under the art), while on the sharp frontal faces of the real-photo
# set the chin landmark plus CHIN_OVERSHOOT sat at 1.03 (median) and the box's bottom is the chin.
CHIN_IN_BOX = 1.0
# ... for faces rolled less than about 18 degrees (the cosine): a rolled head's upright box reaches past its chin.
CHIN_BOX_UPRIGHT = 0.95


def _chin_to_box(chin: np.ndarray, fr: FaceFrame, box: Box) -> np.ndarray:
    """``chin`` moved down the face (along ey) until it reaches CHIN_IN_BOX of an upright box."""
    if fr.ey[1] < CHIN_BOX_UPRIGHT or box.h <= 0:
        return chin  # a face rolled this far: its upright box reaches past its chin
    short = box.y + CHIN_IN_BOX * box.h - float(chin[1])
    return chin + fr.ey * (short / fr.ey[1]) if short > 0 else chin


def _turn(lm: dict[str, np.ndarray], fr: FaceFrame) -> float:
    """How far the face is turned, from the landmarks alone (detector-agnostic), in -1..1.

    Positive when the nose points to the image's right (Rekognition's yaw > 0):
    the nose is then farther from the left jaw than from the right one.
    """
    nose = lm["nose"]
    left = abs(float((nose - lm["midJawlineLeft"]) @ fr.ex)) + abs(float((nose - lm["upperJawlineLeft"]) @ fr.ex))
    right = abs(float((lm["midJawlineRight"] - nose) @ fr.ex)) + abs(float((lm["upperJawlineRight"] - nose) @ fr.ex))
    return (left - right) / max(left + right, 1e-6)


def template_points(template: MaskTemplate) -> np.ndarray:
    return np.array([template.anchors[name] for name in ANCHOR_NAMES], dtype=np.float64)


def centre_of(points: np.ndarray) -> np.ndarray:
    """The mask's centre among anchor points (between the nose tip and the mouth): what the ring radiates from."""
    return points[_A["nose_tip"]] * 0.6 + points[_A["mouth"]] * 0.4


def build_mesh(src: np.ndarray, dst: np.ndarray) -> Mesh:
    """Inner anchors plus an outer ring (per hull vertex and per hull edge midpoint)."""
    c_src, c_dst = centre_of(src), centre_of(dst)
    ring_src, ring_dst = [], []
    hull = [_A[n] for n in _HULL]
    for i, a in enumerate(hull):
        b = hull[(i + 1) % len(hull)]
        for s_pt, d_pt in ((src[a], dst[a]), ((src[a] + src[b]) / 2, (dst[a] + dst[b]) / 2)):
            ring_src.append(c_src + (s_pt - c_src) * RING_REACH)
            ring_dst.append(c_dst + (d_pt - c_dst) * RING_REACH)
    n = len(ANCHOR_NAMES)
    vertices_src = np.vstack([src, np.array(ring_src)])
    vertices_dst = np.vstack([dst, np.array(ring_dst)])
    tris = [[_A[a], _A[b], _A[c]] for a, b, c in _INNER]
    # Each hull edge a->b with ring points Ra (n + 2i), Rab (n + 2i + 1), Rb (n + 2i + 2).
    for i, a in enumerate(hull):
        b = hull[(i + 1) % len(hull)]
        ra, rab, rb = n + 2 * i, n + 2 * i + 1, n + (2 * i + 2) % (2 * len(hull))
        tris += [[a, b, rab], [a, rab, ra], [b, rb, rab]]
    return Mesh(vertices_src, vertices_dst, np.array(tris, dtype=np.int64))


@dataclass(frozen=True)
class Fit:
    mesh: Mesh
    targets: np.ndarray  # the anchor targets the mesh maps the template's anchors to
    box: tuple[int, int, int, int]  # output window (x0, y0, x1, y1), not clipped to the photo
    scale: float  # target pixels per template pixel, roughly
    eye_distance: float


def _drop_empty_triangles(mesh: Mesh, template: MaskTemplate) -> Mesh:
    """Keep only triangles whose template area holds some art (the ring is mostly transparent).

    Rendering cost follows the output window, and the window follows the
    triangles kept: for a typical mask this halves the pixels warped.
    """
    occupied, cell = template.occupancy()
    # The answer depends only on the template side of the mesh, the same for every face a
    # template is fitted to: drawing 36 triangles through Pillow cost ~10 ms a fit (its
    # per-call overhead, not the pixels), twice a masked face.
    shape = (mesh.src.tobytes(), mesh.triangles.tobytes())  # masks may share their anchors, not their art
    keep = _KEEP.get(occupied, shape, lambda: _art_triangles(mesh, occupied, cell))
    return Mesh(mesh.src, mesh.dst, mesh.triangles[keep])


_KEEP: Derived[np.ndarray] = Derived(64)


def _art_triangles(mesh: Mesh, occupied: np.ndarray, cell: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    rows, cols = occupied.shape
    keep = []
    for tri in mesh.triangles:
        pts = mesh.src[tri] / cell - 0.5
        # Drawn on the triangle's own bounding box of the grid, not the whole grid.
        x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 2, (cols, rows))
        if x1 <= x0 or y1 <= y0:
            keep.append(False)
            continue
        canvas = Image.new("1", (int(x1 - x0), int(y1 - y0)), 0)
        ImageDraw.Draw(canvas).polygon([(float(x - x0), float(y - y0)) for x, y in pts], fill=1, outline=1)
        cover = np.asarray(canvas, dtype=bool)
        keep.append(bool((cover & occupied[y0:y1, x0:x1]).any()))
    return np.array(keep, dtype=bool)


def fit_template(
    template: MaskTemplate,
    face: Face,
    overshoot: float | None = None,
    offsets: np.ndarray | None = None,
    worn: bool = True,
) -> Fit:
    """The mesh carrying ``template`` onto ``face``; ``offsets`` (12 x 2 px) move anchor targets (cover.py);
    ``worn`` as in anchor_targets."""
    src = template_points(template)
    dst = anchor_targets(face, overshoot, worn=worn)
    if offsets is not None:
        dst = dst + offsets
    mesh = _drop_empty_triangles(build_mesh(src, dst), template)
    used = mesh.dst[np.unique(mesh.triangles)]
    lo = np.floor(used.min(axis=0)).astype(int) - 2
    hi = np.ceil(used.max(axis=0)).astype(int) + 2
    d_face = float(np.linalg.norm(dst[_A["eye_right"]] - dst[_A["eye_left"]]))
    # Scale from the vertical extent too: a face in profile has a small eye distance.
    h_face = float(np.linalg.norm(dst[_A["chin"]] - dst[_A["nose_bridge"]]))
    h_tmpl = float(np.linalg.norm(src[_A["chin"]] - src[_A["nose_bridge"]]))
    scale = max(d_face / template.eye_distance, h_face / max(h_tmpl, 1e-6))
    return Fit(mesh, dst, (int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])), scale, d_face)


def folded_triangles(mesh: Mesh) -> int:
    """Triangles whose orientation flips between template and face (a mesh folding over itself)."""

    def area(p: np.ndarray) -> np.ndarray:
        q = p[mesh.triangles]
        return (q[:, 1, 0] - q[:, 0, 0]) * (q[:, 2, 1] - q[:, 0, 1]) - (q[:, 2, 0] - q[:, 0, 0]) * (
            q[:, 1, 1] - q[:, 0, 1]
        )

    return int(np.sum(np.sign(area(mesh.src)) != np.sign(area(mesh.dst))))
