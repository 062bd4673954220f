"""The one face type both detectors produce.

Coordinates: pixels of the *upright* image (EXIF orientation applied), x to the
right, y down, origin at the top-left corner. Landmark names are Amazon
Rekognition's (``eyeLeft`` is the eye on the viewer's left), so the local and
the cloud detector feed the same fitting code.

Pose, in degrees, follows Rekognition's signs as observed in its responses:
``yaw > 0`` when the nose points to the image's right, ``roll > 0`` when the
eye line turns counter-clockwise as displayed, ``pitch > 0`` when the chin
lifts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# Rekognition's 30 landmark types, in its documented order.
LANDMARK_NAMES: tuple[str, ...] = (
    "eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight",
    "leftEyeBrowLeft", "leftEyeBrowRight", "leftEyeBrowUp",
    "rightEyeBrowLeft", "rightEyeBrowRight", "rightEyeBrowUp",
    "leftEyeLeft", "leftEyeRight", "leftEyeUp", "leftEyeDown",
    "rightEyeLeft", "rightEyeRight", "rightEyeUp", "rightEyeDown",
    "noseLeft", "noseRight", "mouthUp", "mouthDown", "leftPupil", "rightPupil",
    "upperJawlineLeft", "midJawlineLeft", "chinBottom", "midJawlineRight", "upperJawlineRight",
)  # fmt: skip

# The subset the fitting step needs; a detector that cannot give these gives no landmarks at all.
REQUIRED_LANDMARKS: tuple[str, ...] = (
    "eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight",
    "upperJawlineLeft", "midJawlineLeft", "chinBottom", "midJawlineRight", "upperJawlineRight",
)  # fmt: skip


@dataclass(frozen=True)
class Point:
    x: float
    y: float

    def __add__(self, other: Point) -> Point:
        return Point(self.x + other.x, self.y + other.y)

    def __sub__(self, other: Point) -> Point:
        return Point(self.x - other.x, self.y - other.y)

    def scale(self, k: float) -> Point:
        return Point(self.x * k, self.y * k)

    def lerp(self, other: Point, t: float) -> Point:
        return Point(self.x + (other.x - self.x) * t, self.y + (other.y - self.y) * t)

    def distance(self, other: Point) -> float:
        return math.hypot(self.x - other.x, self.y - other.y)


@dataclass(frozen=True)
class Box:
    """Axis-aligned box: top-left corner plus size, in pixels."""

    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> Point:
        return Point(self.x + self.w / 2, self.y + self.h / 2)

    def clamp(self, width: int, height: int) -> Box:
        x0, y0 = max(0.0, self.x), max(0.0, self.y)
        x1, y1 = min(float(width), self.x + self.w), min(float(height), self.y + self.h)
        return Box(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))

    def iou(self, other: Box) -> float:
        """Intersection over union (0 for disjoint or empty boxes): how two detectors' boxes are paired."""
        ix = max(0.0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0.0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Pose:
    roll: float = 0.0
    yaw: float = 0.0
    pitch: float = 0.0


@dataclass(frozen=True)
class Face:
    """A detected face.

    ``score`` is the detector's confidence in [0, 1]. ``occluded`` is the
    detector's own evidence that the lower face is covered, in [0, 1], or None
    when it has none (the local detector; Rekognition gives FaceOccluded).
    ``mesh_score`` is the landmark model's own confidence that its crop holds a
    face, in [0, 1], or None (Rekognition).
    """

    box: Box
    score: float
    landmarks: Mapping[str, Point] = field(default_factory=dict)
    pose: Pose = Pose()
    occluded: float | None = None
    mesh_score: float | None = None

    @property
    def has_landmarks(self) -> bool:
        """Every landmark the fitting needs is there, finite, with the eyes at least a pixel apart.

        Degenerate landmarks (all on one point, off at infinity) cannot orient a
        mask; such a face is treated like one without landmarks (fuzzing found them).
        """
        if not all(name in self.landmarks for name in REQUIRED_LANDMARKS):
            return False
        if not all(
            math.isfinite(self.landmarks[n].x) and math.isfinite(self.landmarks[n].y) for n in REQUIRED_LANDMARKS
        ):
            return False
        return self.eye_distance >= 1.0

    @property
    def eye_distance(self) -> float:
        return self.landmarks["eyeLeft"].distance(self.landmarks["eyeRight"])
