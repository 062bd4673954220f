"""The embedded detector: CenterFace finds faces, FaceMesh-468 places landmarks; onnxruntime runs both.

Nothing is downloaded: both models ship as package data (see models/README.md
for where they come from and models/convert.py to rebuild them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image

from batch_job.detect.base import SURVEY_LONG_SIDE, ImageSource, register
from batch_job.detect.face import Box, Face, Point, Pose
from batch_job.errors import DetectorError
from batch_job.settings import Settings
from batch_job.stages import timed

# The finest scale faces are looked for at is ``long_side`` (``--detect-size``, default in
# Settings): CenterFace finds faces from about 20 px, so 2048 px reaches faces ~40 px wide in
# a 12 MP photo. See docs/QUALITY.md for the measured trade-off.
# Small photos are enlarged up to this so that their faces reach the sizes the
# model was trained on.
DETECT_MIN_LONG_SIDE = 960
# Running CenterFace over the whole photo at 2048 px costs ~0.9 s; most of it
# is spent on sky, walls and streets. So the whole photo is first surveyed at
# 800 px (~0.1 s, SURVEY_LONG_SIDE, shared with the wearing check), which finds faces
# from ~80 px (in a 12 MP photo) outright, and the heatmap's weak peaks say where
# smaller faces may be: only windows around those are read again at the fine scale
# (bench/detect_tradeoff.py).
# A survey peak at or above this earns a closer look. On synthetic 12 MP scenes, faces
# 40-80 px wide peak at 0.01-0.3 at 800 px and their backgrounds rarely pass 0.02.
ZOOM_FLOOR = 0.02
# Real photos are busier: 48 peaks in [0.02, 0.33) a photo on the 240 development photos at
# 12 MP, so their windows covered most of the photo and it was read whole at the fine scale
# (45-58 % of a photo's time). When a photo's windows would cover more than ZOOM_BUSY_SHARE,
# only peaks from ZOOM_SURE_PEAK up are read at the fine scale (the real masked faces the survey
# hints at peak at 0.08-0.3 there; 4.5 background peaks a photo reach 0.12) and the weak ones are
# left to a middle pass: the whole photo at MIDDLE_LONG_SIDE (0.25x the pixels of 2048 px),
# whose faces are kept and whose own peaks from MIDDLE_FLOOR up, sharper at this scale, are read
# at the fine scale too. Quiet photos (synthetic scenes, plain backgrounds) read every peak as
# before. Measured in docs/QUALITY.md, "Detection speed (issue 13)".
ZOOM_BUSY_SHARE = 0.2
ZOOM_SURE_PEAK = 0.12
MIDDLE_LONG_SIDE = 1024
MIDDLE_FLOOR = 0.12
# The cascade only for fine scales from this long side: on the originals of 1000-1300 px (fine
# scale = their own size) it changed which pass boxed a face, and so the outcome of 13 faces
# (5 masked ones replaced -> left bare), to save a fine pass that costs 2-3 surveys there.
CASCADE_FROM = 1536
SURVEY_SURE_PX = 20  # survey detections narrower than this are also read at the fine scale
ZOOM_WINDOW = 192  # px at the fine scale, a multiple of 32: holds a face up to ~120 px
# When the windows would cover more than this share of the photo (a crowd, a
# busy texture), one full pass at the fine scale costs no more than the windows
# (small inputs run less efficiently per pixel) and sees every face whole.
ZOOM_MAX_SHARE = 0.6
# CenterFace scores faces that fill a large part of its input poorly (a 300 px
# face turned 45 degrees scored 0.15-0.3 where the same face at 150 px scored
# 0.6-0.7, testing/synth.py); a pass at this size catches close-ups.
CLOSEUP_LONG_SIDE = 400
NMS_IOU = 0.3
# One head, two boxes: across scales and windows CenterFace also boxes part of
# a head (the hair and eyes, a face plus the hood) with an IoU under NMS_IOU.
# A box mostly inside another (intersection over the smaller box above this)
# is the same head. On the 240-photo real set no two labelled faces' boxes
# overlap that much (0 pairs at 0.5, 3 at 0.3); 45 duplicate boxes did.
NESTED_LIMIT = 0.5
# Band height and overlap for tall inputs of the full fine pass (multiples of 32; see CenterFace.__call__).
BAND_ROWS = 576
BAND_OVERLAP = 128
SHRINK_ABOVE_PIXELS = 1_000_000
MESH_SIZE = 192
CROP_SCALE = 1.3

# FaceMesh-468 indices. "Left" follows Rekognition: the viewer's left, which is
# the subject's right side.
_EYE_L = (33, 133, 159, 145, 160, 158, 153, 144)
_EYE_R = (263, 362, 386, 374, 387, 385, 380, 373)
MESH_TO_REKOGNITION: dict[str, int | tuple[int, ...]] = {
    "eyeLeft": _EYE_L,
    "eyeRight": _EYE_R,
    "leftPupil": _EYE_L,
    "rightPupil": _EYE_R,
    "nose": 1,
    "noseLeft": 98,
    "noseRight": 327,
    "mouthLeft": 61,
    "mouthRight": 291,
    "mouthUp": 0,
    "mouthDown": 17,
    "leftEyeLeft": 33,
    "leftEyeRight": 133,
    "leftEyeUp": 159,
    "leftEyeDown": 145,
    "rightEyeLeft": 362,
    "rightEyeRight": 263,
    "rightEyeUp": 386,
    "rightEyeDown": 374,
    "leftEyeBrowLeft": 70,
    "leftEyeBrowRight": 107,
    "leftEyeBrowUp": 105,
    "rightEyeBrowLeft": 336,
    "rightEyeBrowRight": 300,
    "rightEyeBrowUp": 334,
    "upperJawlineLeft": 234,
    "midJawlineLeft": 172,
    "chinBottom": 152,
    "midJawlineRight": 397,
    "upperJawlineRight": 454,
}
_FOREHEAD, _CHIN = 10, 152
_SIDE_L, _SIDE_R = 234, 454


def _shrink_options():
    import onnxruntime as ort

    options = ort.RunOptions()
    # Hand the arena's blocks back after each detection run, so the photo's own
    # buffers (decode, paint, encode) do not stack on top of them (peak -150 MB).
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _model_bytes(name: str) -> bytes:
    return resources.files("batch_job.detect.models").joinpath(name).read_bytes()


def onnx_session(name: str, threads: int = 1, data: bytes | None = None):
    """An onnxruntime session for the shipped model ``name`` (or ``data``: another build of it)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread per session: the album is parallel across processes, and a
    # fixed thread count keeps float sums (hence outputs) identical run to run.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # The memory pattern pre-plans one block for every intermediate tensor of a
    # run (about 400 MB for CenterFace at 1600 px); without it tensors come and
    # go through the arena and a worker peaks ~150 MB lower, for ~10% more time.
    options.enable_mem_pattern = False
    try:
        model = data if data is not None else _model_bytes(name)
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise DetectorError(f"cannot load model {name}: {exc}") from exc


@dataclass(frozen=True)
class Candidate:
    """A CenterFace detection in full-image pixels, with its five points (eyes, nose, mouth corners)."""

    box: Box
    score: float
    points: np.ndarray  # (5, 2) x, y


# The float model. An int8 build (models/convert.py --int8 OUT) ran detection in 0.79x the time and
# found as many faces on the development set, but it moved the scores the wearing check was fitted
# on and saw weak peaks on plain photos that sent them to a full decode (docs/QUALITY.md,
# "Detection speed (issue 13)"): not shipped.
CENTERFACE_MODEL = "centerface.onnx"


class CenterFace:
    def __init__(self, threshold: float, threads: int = 1, model: str = CENTERFACE_MODEL) -> None:
        self.threshold = threshold
        self._session = onnx_session(model, threads)
        self._input = self._session.get_inputs()[0].name
        self._run_options = _shrink_options()

    def __call__(self, image: Image.Image) -> list[Candidate]:
        """Faces in ``image`` (RGB), in its own pixel coordinates.

        Tall inputs run in horizontal bands: the network's activations for a
        1600 x 1216 input peak near 450 MB per worker, two bands halve that.
        A band keeps only detections centred in its core (the overlap split in
        half), so a face up to ``BAND_OVERLAP`` px tall is seen whole by the
        band that keeps it; larger faces come from the 800 px survey, where
        they are small again (this whole-photo pass is the fine scale's
        fallback for crowds, see ``_survey_and_zoom``).
        """
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)
        h = pixels.shape[1]
        if h <= BAND_ROWS + BAND_OVERLAP:
            return self._run(pixels, 0, None)
        found: list[Candidate] = []
        top = 0
        while top < h:
            bottom = min(h, top + BAND_ROWS + BAND_OVERLAP)
            core_lo = top + (BAND_OVERLAP // 2 if top > 0 else -math.inf)
            core_hi = bottom - BAND_OVERLAP // 2 if bottom < h else math.inf
            # Every band is padded to the same height: onnxruntime's memory arena
            # then reuses one allocation pattern instead of growing per shape.
            found += self._run(pixels[:, top:bottom], top, (core_lo, core_hi), BAND_ROWS + BAND_OVERLAP)
            if bottom == h:
                break
            top += BAND_ROWS
        return found

    def survey(self, image: Image.Image, floor: float) -> tuple[list[Candidate], np.ndarray]:
        """Faces in ``image`` plus hints: (x, y, peak) of the heatmap's local peaks in
        [floor, threshold) - places a face too small for this scale may be."""
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)
        hints: list[np.ndarray] = []
        found = self._run(pixels, 0, None, hints=(floor, hints))
        return found, hints[0]

    def window(self, image: Image.Image, left: int, top: int) -> list[Candidate]:
        """Faces in ``image`` cut from a larger one at (left, top), in the larger one's pixels.

        Joined windows can grow large, so they go through the same bands as a whole photo.
        """
        shift = np.array([left, top], dtype=np.float64)
        return [
            Candidate(Box(c.box.x + left, c.box.y + top, c.box.w, c.box.h), c.score, c.points + shift)
            for c in self(image)
        ]

    def _run(
        self, pixels: np.ndarray, top: int, core: tuple[float, float] | None, rows: int = 0,
        hints: tuple[float, list] | None = None,
    ) -> list[Candidate]:  # fmt: skip
        _, h, w = pixels.shape
        # Pad (not stretch) to multiples of 32: the network downsamples 32x.
        pw, ph = -(-w // 32) * 32, -(-max(h, rows) // 32) * 32
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :h, :w] = pixels
        # Shrinking the arena after a run keeps a worker's peak down after a big
        # input, but costs ~20% on every run: only for the full fine pass's bands.
        options = self._run_options if ph * pw > SHRINK_ABOVE_PIXELS else None
        heatmap, scale, offset, marks = self._session.run(None, {self._input: blob}, options)
        heat = heatmap[0, 0]
        if hints is not None:
            peaks = _peaks(heat[: -(-h // 4), : -(-w // 4)], hints[0], self.threshold)
            peaks[:, :2] = peaks[:, :2] * 4.0 + 2.0
            hints[1].append(peaks)
        ys, xs = np.nonzero(heat > self.threshold)
        if len(ys) == 0:
            return []
        scores = heat[ys, xs]
        bh = np.exp(scale[0, 0, ys, xs]) * 4
        bw = np.exp(scale[0, 1, ys, xs]) * 4
        cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
        cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4 + top
        x0, y0 = cx - bw / 2, cy - bh / 2
        # Landmarks come as (y, x) pairs relative to the box corner, in box units.
        lm = marks[0][:, ys, xs].reshape(5, 2, -1)
        px = x0[None, :] + lm[:, 1, :] * bw[None, :]
        py = y0[None, :] + lm[:, 0, :] * bh[None, :]
        keep = _nms(x0, y0, bw, bh, scores, NMS_IOU)
        if core is not None:
            keep = [i for i in keep if core[0] <= cy[i] < core[1]]
        return [
            Candidate(
                Box(float(x0[i]), float(y0[i]), float(bw[i]), float(bh[i])),
                float(scores[i]),
                np.stack([px[:, i], py[:, i]], axis=1).astype(np.float64),
            )
            for i in keep
        ]


def _peaks(heat: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """(x, y, value) of the heatmap cells that are 3x3 local maxima with lo <= value < hi."""
    padded = np.pad(heat, 1, constant_values=-1.0)
    h, w = heat.shape
    neighbours = np.max(
        [padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3) if (dy, dx) != (1, 1)], axis=0
    )
    ys, xs = np.nonzero((heat >= lo) & (heat < hi) & (heat >= neighbours))
    return np.column_stack([xs, ys, heat[ys, xs]]).astype(np.float64)


def _windows(points: np.ndarray, size: tuple[int, int], side: int) -> list[tuple[int, int, int, int]]:
    """Squares of ``side`` centred on ``points`` inside an image of ``size``; overlapping ones joined.

    A busy photo can give hundreds of points, so overlaps are joined as
    connected components over an all-pairs test, a few numpy passes.
    """
    w, h = size
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x0 = np.clip(np.round(pts[:, 0] - side / 2), 0, max(0, w - side))
    y0 = np.clip(np.round(pts[:, 1] - side / 2), 0, max(0, h - side))
    boxes = np.stack([x0, y0, np.minimum(w, x0 + side), np.minimum(h, y0 + side)], axis=1).astype(np.int64)
    while len(boxes) > 1:
        b = boxes
        touch = (b[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < b[:, None, 2])
        touch &= (b[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < b[:, None, 3])
        labels = np.arange(len(b))
        while True:  # each box takes the smallest label it touches until nothing changes
            spread = np.where(touch, labels[None, :], len(b)).min(axis=1)
            if np.array_equal(spread, labels):
                break
            labels = spread
        if len(np.unique(labels)) == len(b):
            break
        # Joined boxes may now overlap others: go round again.
        boxes = np.array([
            [b[labels == g, 0].min(), b[labels == g, 1].min(), b[labels == g, 2].max(), b[labels == g, 3].max()]
            for g in np.unique(labels)
        ])  # fmt: skip
    return sorted((int(x0), int(y0), int(x1), int(y1)) for x0, y0, x1, y1 in boxes)


def _unexplained(hints: np.ndarray, sure: list[Candidate]) -> np.ndarray:
    """Hints (x, y, peak) a pass leaves to a finer scale: its peaks outside the faces it found, plus
    the faces it barely resolves (narrower than SURVEY_SURE_PX, given peak 1: always read again).

    A peak inside a face already found is that face, not another one; the finer scale gives a
    face barely resolved a better box and score (the better of the two wins the merge).
    """
    hints = hints.reshape(-1, 3)
    boxes = np.array(
        [[c.box.x, c.box.y, c.box.x + c.box.w, c.box.y + c.box.h] for c in sure if c.box.w >= SURVEY_SURE_PX]
    )
    if len(boxes) and len(hints):
        inside = (hints[:, None, 0] >= boxes[None, :, 0]) & (hints[:, None, 0] <= boxes[None, :, 2])
        inside &= (hints[:, None, 1] >= boxes[None, :, 1]) & (hints[:, None, 1] <= boxes[None, :, 3])
        hints = hints[~inside.any(axis=1)]
    barely = [(c.box.center.x, c.box.center.y, 1.0) for c in sure if c.box.w < SURVEY_SURE_PX]
    return np.concatenate([hints, np.array(barely).reshape(-1, 3)])


def _share(windows: list[tuple[int, int, int, int]], size: tuple[int, int]) -> float:
    """The share of an image of ``size`` that ``windows`` (disjoint, as _windows makes them) cover.

    A strip can round to no rows at the fine scale (10000 x 1, tests/test_fuzz.py): nothing covered.
    """
    covered = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in windows)
    return covered / (size[0] * size[1]) if covered else 0.0


def _to_full(cand: Candidate, scale: float) -> Candidate:
    b = cand.box
    return Candidate(Box(b.x / scale, b.y / scale, b.w / scale, b.h / scale), cand.score, cand.points / scale)


def _merge(scored: list[tuple[Candidate, float]]) -> list[Candidate]:
    """Candidates from several scales, overlapping ones reduced to the best scored (NMS)."""
    if not scored:
        return []
    cands = [c for c, _ in scored]
    arr = np.array([[c.box.x, c.box.y, c.box.w, c.box.h] for c in cands])
    scores = np.array([s for _, s in scored])
    keep = _nms(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], scores, NMS_IOU)
    kept = arr[keep]
    keep = [
        keep[i]
        for i in _nms(kept[:, 0], kept[:, 1], kept[:, 2], kept[:, 3], scores[keep], NESTED_LIMIT, over_smaller=True)
    ]
    return [cands[i] for i in sorted(keep, key=lambda i: (cands[i].box.y, cands[i].box.x))]


def _nms(x0, y0, w, h, scores, iou_limit: float, over_smaller: bool = False) -> list[int]:
    """Indices kept, best score first; ``over_smaller`` measures overlap as intersection over the smaller box."""
    order = np.argsort(-scores, kind="stable")
    x1, y1 = x0 + w, y0 + h
    areas = w * h
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.clip(np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]), 0, None)
        iy = np.clip(np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]), 0, None)
        inter = ix * iy
        iou = inter / (np.minimum(areas[i], areas[rest]) if over_smaller else areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_limit]
    return keep


@dataclass(frozen=True)
class Crop:
    """A square, rotated window onto the image: centre, side (pixels) and angle (radians, eye line)."""

    cx: float
    cy: float
    side: float
    angle: float

    def matrix(self) -> np.ndarray:
        """2x3 matrix mapping crop pixels (u, v) in [0, MESH_SIZE) to image pixels."""
        s = self.side / MESH_SIZE
        c, n = math.cos(self.angle) * s, math.sin(self.angle) * s
        half = MESH_SIZE / 2
        return np.array([[c, -n, self.cx - c * half + n * half], [n, c, self.cy - n * half - c * half]])


class FaceMesh:
    def __init__(self, threads: int = 1) -> None:
        self._session = onnx_session("facemesh.onnx", threads)
        self._input = self._session.get_inputs()[0].name

    def __call__(self, image: Image.Image, crop: Crop) -> tuple[np.ndarray, float]:
        """468 (x, y, z) points in ``image`` pixels (z in the same units, larger = farther), and
        FaceMesh's own score (0..1) that the crop holds a face."""
        factor = int(crop.side / MESH_SIZE)
        if factor >= 2:
            # Read a crop from a much larger picture through an integer box
            # reduction first: the affine resampling below does not filter,
            # and an aliased face moves FaceMesh's points by pixels.
            reach = crop.side * 0.75  # covers the rotated square (half-diagonal 0.71 side)
            x0, y0 = math.floor(crop.cx - reach), math.floor(crop.cy - reach)
            x1, y1 = math.ceil(crop.cx + reach), math.ceil(crop.cy + reach)
            region = image.crop((x0, y0, x1, y1)).reduce(factor)
            small = Crop((crop.cx - x0) / factor, (crop.cy - y0) / factor, crop.side / factor, crop.angle)
            points, score = self(region, small)
            points *= factor
            points[:, 0] += x0
            points[:, 1] += y0
            return points, score
        m = crop.matrix()
        patch = image.transform(
            (MESH_SIZE, MESH_SIZE),
            Image.Transform.AFFINE,
            tuple(m.ravel()),
            resample=Image.Resampling.BILINEAR,
            fillcolor=(0, 0, 0),
        )
        # [0, 1] input: MediaPipe's own [-1, 1] convention gives plausible but wrong points here.
        blob = (np.asarray(patch, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
        out, logit = self._session.run(None, {self._input: blob})
        raw = out.reshape(468, 3).astype(np.float64)
        xy = raw[:, :2] @ m[:, :2].T + m[:, 2]
        z = raw[:, 2] * (crop.side / MESH_SIZE)
        score = 1.0 / (1.0 + math.exp(-float(np.clip(logit.ravel()[0], -30, 30))))
        return np.column_stack([xy, z]), score


def _crop_from_mesh(mesh: np.ndarray) -> Crop:
    """The crop FaceMesh itself would want: eye line level, face oval centred with margin."""
    eye_l, eye_r = mesh[33, :2], mesh[263, :2]
    angle = math.atan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])
    c, s = math.cos(-angle), math.sin(-angle)
    pts = mesh[:, :2]
    rot = pts @ np.array([[c, s], [-s, c]])
    lo, hi = rot.min(axis=0), rot.max(axis=0)
    centre_rot = (lo + hi) / 2
    cx, cy = centre_rot @ np.array([[c, -s], [s, c]])
    side = float(max(hi - lo)) * 1.5
    return Crop(float(cx), float(cy), side, angle)


# FaceMesh's depth axis is compressed: on 3D heads turned by known angles
# (testing/synth.py) the raw yaw reads 0.55-0.7x the true one, and frontal
# portraits read about 7 degrees chin-down. Roll needs no correction.
YAW_GAIN = 1.5
PITCH_OFFSET = 7.0


def _pose(mesh: np.ndarray) -> Pose:
    ex = mesh[_SIDE_R] - mesh[_SIDE_L]
    ex /= np.linalg.norm(ex)
    ey = mesh[_CHIN] - mesh[_FOREHEAD]
    ey -= ey.dot(ex) * ex
    ey /= np.linalg.norm(ey)
    yaw = float(np.clip(YAW_GAIN * math.degrees(math.asin(float(np.clip(ex[2], -1, 1)))), -90, 90))
    pitch = math.degrees(math.asin(float(np.clip(-ey[2], -1, 1)))) + PITCH_OFFSET
    roll = -math.degrees(math.atan2(ex[1], ex[0]))
    return Pose(roll=roll, yaw=yaw, pitch=pitch)


def landmarks_from_mesh(mesh: np.ndarray) -> dict[str, Point]:
    out: dict[str, Point] = {}
    for name, index in MESH_TO_REKOGNITION.items():
        xy = mesh[list(index), :2].mean(axis=0) if isinstance(index, tuple) else mesh[index, :2]
        out[name] = Point(float(xy[0]), float(xy[1]))
    return out


class LocalDetector:
    name = "local"

    def __init__(
        self,
        threshold: float = Settings.detect_threshold,
        threads: int = 1,
        long_side: int = Settings.detect_long_side,
    ) -> None:
        self._centerface = CenterFace(threshold, threads)
        self._mesh = FaceMesh(threads)
        self.long_side = long_side
        # False reads the whole photo at the fine scale (the slow reference the
        # survey is measured against in bench/detect_tradeoff.py).
        self.zoom = True

    def detect(self, source: ImageSource) -> list[Face]:
        return [face for face, _ in self.detect_with_meshes(source)]

    def detect_with_meshes(self, source: ImageSource) -> list[tuple[Face, np.ndarray]]:
        """Faces plus their raw 468-point meshes (x, y, z in full-image pixels)."""
        long_side = max(source.size)
        if long_side > self.long_side:
            fine = self.long_side / long_side
        else:
            fine = max(1.0, DETECT_MIN_LONG_SIDE / long_side)
        if fine * long_side <= SURVEY_LONG_SIDE * 1.25:
            found = self._single_pass(source, fine)
        else:
            found = self._survey_and_zoom(source, fine)
        merged = _merge([(_to_full(c, s), c.score) for c, s in found])
        return [self._refine(source, c.box, c.score, c.points) for c in merged]

    def _single_pass(self, source: ImageSource, fine: float) -> list[tuple[Candidate, float]]:
        """A photo small enough to read whole at the fine scale in one pass."""
        image, scale = source.at_most(max(source.size))
        if fine != scale:
            size = (round(source.size[0] * fine), round(source.size[1] * fine))
            image = image.resize(size, Image.Resampling.BICUBIC)
        return [(c, fine) for c in self._centerface(image)] + self._closeups(image, fine)

    def _closeups(self, image: Image.Image, scale: float) -> list[tuple[Candidate, float]]:
        if max(image.size) <= CLOSEUP_LONG_SIDE * 1.25:
            return []
        k = CLOSEUP_LONG_SIDE / max(image.size)
        with timed("closeup"):
            small = image.resize(
                (max(1, round(image.width * k)), max(1, round(image.height * k))),
                Image.Resampling.BILINEAR,
                reducing_gap=2.0,
            )
            return [(c, scale * k) for c in self._centerface(small)]

    def _survey_and_zoom(self, source: ImageSource, fine: float) -> list[tuple[Candidate, float]]:
        with timed("decode"):
            survey, sk = source.at_most(SURVEY_LONG_SIDE)
        with timed("survey"):
            sure, hints = self._centerface.survey(survey, ZOOM_FLOOR)
        found = [(c, sk) for c in sure] + self._closeups(survey, sk)
        hints = _unexplained(hints, sure)
        fine_size = (round(source.size[0] * fine), round(source.size[1] * fine))
        if self.zoom:
            points = hints[:, :2] * (fine / sk)
            # Below CASCADE_FROM the whole fine pass costs a few surveys and the middle pass would be
            # as fine as it: such photos read every hint, as before the cascade.
            cascade = max(fine_size) >= CASCADE_FROM
            if cascade and _share(_windows(points, fine_size, ZOOM_WINDOW), fine_size) > ZOOM_BUSY_SHARE:
                points = points[hints[:, 2] >= ZOOM_SURE_PEAK]
                with timed("decode"):
                    image, middle = source.at_most(MIDDLE_LONG_SIDE)
                with timed("middle"):
                    more, weak = self._centerface.survey(image, MIDDLE_FLOOR)
                found += [(c, middle) for c in more]
                points = np.concatenate([points, _unexplained(weak, more)[:, :2] * (fine / middle)])
            if not len(points):
                return found
            windows = _windows(points, fine_size, ZOOM_WINDOW)
            if _share(windows, fine_size) <= ZOOM_MAX_SHARE:
                with timed("decode"):
                    full, _ = source.at_most(max(source.size))
                for x0, y0, x1, y1 in windows:
                    # Cut from the full photo and reduce just the window: the photo is
                    # decoded at full size for painting anyway, a 2048 px copy is not.
                    # fine_size is rounded: x1 / fine can pass the photo's edge by a fraction of a pixel.
                    box = (x0 / fine, y0 / fine, min(full.width, x1 / fine), min(full.height, y1 / fine))
                    with timed("windows"):
                        part = full.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=box, reducing_gap=2.0)
                        found += [(c, fine) for c in self._centerface.window(part, x0, y0)]
                return found
        # The whole photo at the fine scale: the crowd fallback, or zoom off.
        with timed("decode"):
            image, k = source.at_most(max(fine_size))
        with timed("windows"):  # the crowd fallback: the whole photo at the fine scale
            return found + [(c, k) for c in self._centerface(image)]

    def _refine(self, source: ImageSource, box: Box, score: float, points: np.ndarray) -> tuple[Face, np.ndarray]:
        eye_l, eye_r = points[0], points[1]
        angle = math.atan2(eye_r[1] - eye_l[1], eye_r[0] - eye_l[0])
        crop = Crop(box.center.x, box.center.y, CROP_SCALE * max(box.w, box.h), angle)
        # Read the crop from the survey copy when it already gives FaceMesh its
        # own 192 px, else from the full photo (decoded once, and needed for
        # painting anyway): two levels, never a decode per face.
        with timed("decode"):
            image, k = source.at_most(SURVEY_LONG_SIDE)
            if crop.side * k < MESH_SIZE and k < 1.0:
                image, k = source.at_most(max(source.size))
        with timed("landmarks"):
            mesh, _ = self._mesh(image, _scaled(crop, k))
            mesh, mesh_score = self._mesh(image, _crop_from_mesh(mesh))
        mesh /= k
        face = Face(box=box, score=score, landmarks=landmarks_from_mesh(mesh), pose=_pose(mesh), mesh_score=mesh_score)
        return face, mesh


def _scaled(crop: Crop, k: float) -> Crop:
    return Crop(crop.cx * k, crop.cy * k, crop.side * k, crop.angle)


@register("local")
def _create(settings) -> LocalDetector:
    return LocalDetector(threshold=settings.detect_threshold, long_side=settings.detect_long_side)
