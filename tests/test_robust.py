"""No photo is lost to one face: any box or landmarks, off the photo or degenerate, end as a faces.csv row.

Property-style: faces are drawn at random (a fixed seed) over every edge and
corner, partly or wholly outside the photo, from 1 px to twice the photo's
size, at any roll, plus hand-made degenerate landmark sets. The real pipeline
runs on real JPEGs; a fake detector hands it the faces.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from batch_job.detect.face import Box, Face, Point, Pose
from batch_job.fit import CANONICAL_LANDMARKS
from batch_job.pipeline import Context, process_photo
from batch_job.settings import Settings
from testing.synth import PersonSpec, make_scene

ACTIONS = {"replaced", "left_bare", "too_small", "not_fitted"}

# The canonical frontal face in eye distances (x right, y down from the eye midpoint).
FRONTAL = CANONICAL_LANDMARKS


class GivenFaces:
    """A detector that answers with the faces it was given."""

    name = "given"

    def __init__(self, faces: list[Face]) -> None:
        self.faces = faces

    def detect(self, source) -> list[Face]:
        return list(self.faces)


def face_at(cx: float, cy: float, d: float, roll: float = 0.0, points=FRONTAL, box: Box | None = None) -> Face:
    a = math.radians(roll)
    c, s = math.cos(a), math.sin(a)
    lm = {n: Point(cx + c * x * d - s * y * d, cy + s * x * d + c * y * d) for n, (x, y) in points.items()}
    return Face(box or Box(cx - d, cy - 0.6 * d, 2 * d, 2.4 * d), 0.9, lm, Pose(roll=-roll))


def photo_jpeg(size=(640, 480), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((size[1], size[0], 3)) * 80 + 120).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def run(faces: list[Face], catalog, size=(640, 480), **settings):
    ctx = Context(Settings(seed=2, all_faces=True, **settings), GivenFaces(faces), catalog.masks)
    result = process_photo("p.jpg", photo_jpeg(size), ctx, keep_alpha=True)
    return result


def check(result, n_faces: int, size=(640, 480)) -> None:
    assert result.row.status == "ok", result.row.reason
    assert len(result.faces) == n_faces
    for row in result.faces:
        assert row.action in ACTIONS
        if row.action == "not_fitted":
            assert row.reason  # says why
    if result.output is not None:
        assert Image.open(io.BytesIO(result.output)).size == size


def random_faces(rng: np.random.Generator, count: int, size: tuple[int, int]) -> list[Face]:
    w, h = size
    faces = []
    for _ in range(count):
        d = float(np.exp(rng.uniform(np.log(0.5), np.log(2.2 * max(w, h) / 2))))
        # Centres from well outside the left/top to well outside the right/bottom: every edge and corner.
        cx = float(rng.uniform(-1.5 * d, w + 1.5 * d))
        cy = float(rng.uniform(-1.5 * d, h + 1.5 * d))
        faces.append(face_at(cx, cy, d, roll=float(rng.uniform(-180, 180))))
    return faces


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_faces_anywhere_never_fail_the_photo(catalog, seed):
    rng = np.random.default_rng(seed)
    faces = random_faces(rng, 14, (640, 480))
    result = run(faces, catalog)
    check(result, len(faces))
    # Most of these faces have their mask at least partly on the photo: they are painted, not refused.
    on_photo = [f for f in faces if -f.box.w < f.box.x < 640 and -f.box.h < f.box.y < 480 and f.box.w >= 24]
    replaced = [r for r in result.faces if r.action == "replaced"]
    assert len(replaced) >= len(on_photo) // 2


@pytest.mark.parametrize(
    ("corner", "centre"),
    [("top-left", (5, 5)), ("top-right", (635, 5)), ("bottom-left", (5, 475)), ("bottom-right", (635, 475)),
     ("left", (-30, 240)), ("bottom", (320, 440)), ("right", (660, 240)), ("top", (320, -60))],
)  # fmt: skip
def test_faces_cut_by_each_edge_are_painted_inside_the_photo(catalog, corner, centre):
    result = run([face_at(*centre, 70.0)], catalog)
    check(result, 1)
    (row,) = result.faces
    assert row.action == "replaced", (corner, row.reason)
    (painted,) = result.painted
    x0, y0, x1, y1 = painted.box
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480
    assert painted.alpha.max() > 0.9  # some of the mask shows


def _degenerate() -> dict[str, Face]:
    same = dict.fromkeys(FRONTAL, (0.0, 0.0))
    upside = {n: (x, -y) for n, (x, y) in FRONTAL.items()}
    flat = {n: (x, 0.0) for n, (x, y) in FRONTAL.items()}  # every point on the eye line
    line = {n: (0.0, y) for n, (x, y) in FRONTAL.items()}  # every point on one vertical line
    far_chin = dict(FRONTAL, chinBottom=(0.0, 400.0))
    good = face_at(300, 200, 60)
    nan = dict(good.landmarks, nose=Point(float("nan"), 3.0))
    inf = dict(good.landmarks, chinBottom=Point(float("inf"), 3.0))
    missing = {k: v for k, v in good.landmarks.items() if k != "chinBottom"}
    return {
        "all points in one": face_at(300, 200, 60, points=same),
        "upside down": face_at(300, 200, 60, points=upside),
        "all on the eye line": face_at(300, 200, 60, points=flat),
        "all on one vertical": face_at(300, 200, 60, points=line),
        "chin far away": face_at(300, 200, 60, points=far_chin),
        "nan landmark": Face(good.box, 0.9, nan),
        "infinite landmark": Face(good.box, 0.9, inf),
        "missing landmark": Face(good.box, 0.9, missing),
        "zero box": face_at(300, 200, 60, box=Box(300, 200, 0, 0)),
        "negative box": face_at(300, 200, 60, box=Box(300, 200, -50, -50)),
        "landmarks off the box": face_at(300, 200, 60, box=Box(10, 10, 30, 30)),
        "sub-pixel face": face_at(300, 200, 0.3),
        "far outside": face_at(-5000, 9000, 60),
        "huge": face_at(320, 240, 5000),
    }


@pytest.mark.parametrize("name", list(_degenerate()))
def test_degenerate_landmarks_become_a_row_not_an_error(catalog, name):
    face = _degenerate()[name]
    other = face_at(450, 300, 50)  # a sound face in the same photo is still painted
    result = run([face, other], catalog)
    check(result, 2)
    rows = {(r.x, r.y): r for r in result.faces}
    sound = rows[(round(other.box.x), round(other.box.y))]
    assert sound.action == "replaced"


def test_too_small_and_not_fitted_rows_say_why(catalog):
    result = run([face_at(300, 200, 3), Face(Box(100, 100, 60, 60), 0.9, {})], catalog)
    check(result, 2)
    reasons = sorted((r.action, r.reason) for r in result.faces)
    assert reasons[0][0] == "not_fitted" and "landmarks" in reasons[0][1]
    assert reasons[1][0] == "too_small" and "px" in reasons[1][1]


def test_a_face_window_at_the_photo_edge_does_not_lose_the_photo(ctx):
    """Photos whose size does not scale to whole pixels at the detector's fine scale, with a small
    face at the bottom edge: the window around it reached past the photo and Pillow refused the
    box ("box can't exceed original image size"), losing the whole photo."""
    # 2050 x 1537 at the 2048 px fine scale is 2048 x 1535.5 -> 1536 rows, i.e. 1537.5 source rows.
    scene = make_scene([PersonSpec(38, asset=1), PersonSpec(40, asset=0)], size=(2050, 1537), seed=4,
                       positions=[(1000, 1537 - 30), (2050 - 30, 700)])  # fmt: skip
    result = process_photo("edge.jpg", scene.jpeg(), ctx)
    assert result.row.status == "ok", result.row.reason
    assert result.row.faces_found >= 1
