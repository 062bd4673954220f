"""The monster mask covers the worn mask itself: lower (KN95), wider (cloth), coloured; small faces get one too.

Real JPEGs made from the repository's portraits (testing/synth.py), with a
larger worn mask painted over the synthetic surgical one where its shape is
known exactly; the real detector and pipeline run on them. Each coverage test
also runs with the worn-mask check switched off and asserts that it then
FAILS to cover, so the test measures the check and not the art's margins.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

import batch_job.paint as paint_module
from batch_job.detect.face import Box, Face, Point, Pose
from batch_job.fit import CANONICAL_LANDMARKS
from batch_job.pipeline import Context, process_photo
from batch_job.settings import Settings
from testing.synth import MASK_COLOURS, PersonSpec, coverage_map, make_scene

# A KN95/cloth outline in eye distances from the eye midpoint (x right, y down): over the
# nose, out past the jaw and well under the chin (the synthetic surgical mask stops 0.12 under it).
BIG_MASK_HALF = [(0.0, 0.22), (0.55, 0.3), (1.2, 0.38), (1.45, 0.85), (1.3, 1.5), (0.85, 2.2), (0.0, 2.6)]


# A cloth mask larger still: its edge lies past where the fit may reach (the art plus
# cover.REACH_SIDE / REACH_DOWN), as oversized cloth masks and scarves do on the real photos.
HUGE_MASK_HALF = [(0.0, 0.22), (0.55, 0.3), (1.3, 0.38), (1.75, 0.85), (1.6, 1.7), (1.0, 2.7), (0.0, 3.1)]


def _outline(truth, half_outline=BIG_MASK_HALF) -> np.ndarray:
    el, er = np.array(truth.eye_left), np.array(truth.eye_right)
    d = float(np.linalg.norm(er - el))
    ex = (er - el) / d
    ey = np.array([-ex[1], ex[0]])
    mid = (el + er) / 2
    half = half_outline + [(-x, y) for x, y in reversed(half_outline[1:-1])]
    return np.array([mid + (ex * x + ey * y) * d for x, y in half])


def scene_with_big_mask(colour: str, width: float = 240, yaw: float = 0.0, seed: int = 5, half=BIG_MASK_HALF):
    """A photo of one person wearing a mask that reaches lower and wider than a surgical one; (jpeg, worn alpha)."""
    scene = make_scene(
        [PersonSpec(width, colour=colour, yaw=yaw, asset=1)], size=(720, 720), seed=seed, positions=[(360, 300)]
    )
    (truth,) = scene.faces
    ss = 4
    big = Image.new("L", (720 * ss, 720 * ss), 0)
    ImageDraw.Draw(big).polygon([tuple(p * ss) for p in _outline(truth, half)], fill=255)
    alpha = np.asarray(big.resize((720, 720), Image.Resampling.BOX), dtype=np.float32) / 255.0
    rng = np.random.default_rng(seed)
    base = np.array(MASK_COLOURS[colour], np.float32)
    # Cloth: colour with a fine weave and soft shading downwards.
    weave = (
        np.asarray(
            Image.fromarray((rng.normal(128, 25, (720, 720))).clip(0, 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(0.8)
            ),
            np.float32,
        )
        - 128
    )
    shade = np.linspace(1.0, 0.88, 720, dtype=np.float32)[:, None]
    cloth = base[None, None, :] * shade[..., None] + weave[..., None] * 0.3
    image = np.asarray(scene.image, np.float32)
    out = image * (1 - alpha[..., None]) + cloth * alpha[..., None]
    buffer = io.BytesIO()
    Image.fromarray(out.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=92)
    return buffer.getvalue(), alpha


def visible(result, worn: np.ndarray) -> float:
    cover = coverage_map(result.painted, worn.shape)
    inside = worn > 0.5
    return float(np.mean(cover[inside] < 0.5))


@pytest.mark.parametrize(("colour", "yaw"), [("white", 0.0), ("black", 0.0), ("pink", 0.0), ("grey", 0.0)])
def test_the_monster_mask_covers_a_lower_wider_worn_mask(ctx, monkeypatch, colour, yaw):
    data, worn = scene_with_big_mask(colour, yaw=yaw)
    result = process_photo(
        "kn95.jpg", data, ctx.__class__(ctx.settings.replace(all_faces=True), ctx.detector, ctx.pool), keep_alpha=True
    )
    assert result.row.faces_masked == 1
    covered = visible(result, worn)
    # Measured with the check: white 1.4 %, black 0.4 % (without: 7.7 %, 9.8 %).
    assert covered < 0.02, covered
    # Without the worn-mask check the same fit leaves the bottom of the mask in view.
    monkeypatch.setattr(paint_module, "worn_mask_reach", lambda *a, **k: None)
    plain = process_photo(
        "kn95.jpg", data, ctx.__class__(ctx.settings.replace(all_faces=True), ctx.detector, ctx.pool), keep_alpha=True
    )
    assert visible(plain, worn) > 0.04


@pytest.mark.parametrize(("colour", "yaw"), [("white", 30.0), ("black", 0.0)])
def test_a_worn_mask_past_the_limit_is_covered_to_it_not_taken_for_a_leak(ctx, monkeypatch, colour, yaw):
    """The grown region stops between the limit and the leak probe: a mask edge, so the fit reaches the limit."""
    import batch_job.cover as cover_module

    data, worn = scene_with_big_mask(colour, yaw=yaw, half=HUGE_MASK_HALF)
    settings = ctx.settings.replace(all_faces=True)
    result = process_photo("huge.jpg", data, ctx.__class__(settings, ctx.detector, ctx.pool), keep_alpha=True)
    assert result.row.faces_masked == 1
    # Measured: white at yaw 30 2.4 %, black 2.3 % (main before the probe: 37 %, 20 %); with the probe
    # off (every region at the limit a leak) 23 % and 19 %.
    assert visible(result, worn) < 0.06
    monkeypatch.setattr(cover_module, "LEAK_PROBE", 0.0)
    plain = process_photo("huge.jpg", data, ctx.__class__(settings, ctx.detector, ctx.pool), keep_alpha=True)
    assert visible(plain, worn) > 0.12


def test_faces_of_14_to_22_px_are_masked_and_cover_their_mask(catalog):
    from test_robust import GivenFaces

    from testing.synth import visible_share

    scene = make_scene([PersonSpec(w, asset=i % 2) for i, w in enumerate((14, 18, 22))], size=(200, 120), seed=9,
                       positions=[(40, 50), (100, 50), (160, 50)])  # fmt: skip
    # Eyes and box only: what a crowd face this small gives reliably.
    faces = [
        Face(Box(*t.box), 0.9, {"eyeLeft": Point(*t.eye_left), "eyeRight": Point(*t.eye_right)}) for t in scene.faces
    ]
    ctx = Context(Settings(seed=3, all_faces=True), GivenFaces(faces), (catalog.get("cat"),))
    result = process_photo("crowd.jpg", scene.jpeg(), ctx, keep_alpha=True)
    assert [r.action for r in result.faces] == ["replaced"] * 3
    cover = coverage_map(result.painted, (120, 200))
    # Measured: 0.0 % of each painted surgical mask left in view.
    assert max(visible_share(t, cover) for t in scene.faces) < 0.05


def test_small_faces_are_drawn_without_aliasing(catalog, monkeypatch):
    """A 14-22 px face's mask matches the same mask painted 4x larger and box-reduced (the clean reference)."""
    from batch_job.fit import simple_face
    from batch_job.paint import PaintJob, paint

    def scaled(face: Face, k: float) -> Face:
        b = face.box
        return Face(
            Box(b.x * k, b.y * k, b.w * k, b.h * k),
            0.9,
            {n: Point(p.x * k, p.y * k) for n, p in face.landmarks.items()},
        )

    eyes = [
        ((33.0, 47.0), (39.0, 47.2), 14.0),
        ((95.0, 45.0), (102.5, 44.0), 18.0),
        ((153.0, 44.0), (162.0, 44.5), 22.0),
    ]
    faces = [
        Face(Box(le[0] - 0.35 * w, le[1] - 0.4 * w, w, 1.15 * w), 0.9, {"eyeLeft": Point(*le), "eyeRight": Point(*r)})
        for le, r, w in eyes
    ]

    def error() -> float:
        diffs = []
        for template in catalog.masks:
            for face in faces:
                small = Image.new("RGB", (200, 120), (128, 128, 128))
                paint(small, [PaintJob(face, template, 1, wears_mask=False)])
                big = Image.new("RGB", (800, 480), (128, 128, 128))
                paint(big, [PaintJob(scaled(simple_face(face), 4), template, 1, wears_mask=False)])
                ref, out = np.asarray(big.reduce(4), np.float32), np.asarray(small, np.float32)
                painted = (np.abs(ref - 128).max(axis=2) > 2) | (np.abs(out - 128).max(axis=2) > 2)
                diffs.append(float(np.abs(ref - out)[painted].mean()))
        return float(np.mean(diffs))

    clean = error()
    # Measured: 1.2 levels supersampled, 4.2 levels sampled straight from the level (aliased).
    assert clean < 2.0
    monkeypatch.setattr(paint_module, "SUPERSAMPLE", 1)
    assert error() > 2 * clean


def test_a_white_wall_beside_a_white_mask_does_not_pull_the_monster_mask_onto_it(ctx):
    """The worn mask's colour continues into the background: the grown region reaches the limit,
    which marks a leak, and the fit is not stretched over the wall."""
    scene = make_scene([PersonSpec(240, colour="white", asset=1)], size=(720, 720), seed=5, positions=[(360, 300)])
    (truth,) = scene.faces
    image = np.asarray(scene.image).copy()
    # A white wall from just right of the mask's right edge to the photo's edge, at mask height.
    mask_cols = np.nonzero(truth.mask_alpha.max(axis=0) > 0.5)[0]
    right = truth.mask_box[0] + int(mask_cols.max())
    image[250:560, right - 2 :] = (236, 238, 240)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=92)
    result = process_photo(
        "wall.jpg",
        buffer.getvalue(),
        ctx.__class__(ctx.settings.replace(all_faces=True), ctx.detector, ctx.pool),
        keep_alpha=True,
    )
    cover = coverage_map(result.painted, (720, 720))
    d = truth.eye_distance
    # Measured: the art (its straps) reaches 0.41 d into the wall; with the leak guard off it follows the wall.
    assert cover[250:560, int(right + 0.6 * d) :].max() < 0.5


# A face in profile, nose to the image's right (FaceMesh's layout at yaw 60-80 on the real photos:
# the far eye and jaw close to the nose-mouth line), in eye distances from the eye midpoint.
PROFILE = {
    **CANONICAL_LANDMARKS,
    "eyeRight": (0.25, 0.0), "nose": (0.6, 0.6), "mouthLeft": (0.05, 1.0), "mouthRight": (0.45, 1.0),
    "mouthUp": (0.3, 0.9), "mouthDown": (0.3, 1.1), "upperJawlineRight": (0.3, 0.25),
    "midJawlineRight": (0.25, 1.1), "chinBottom": (0.3, 1.62),
}  # fmt: skip


# The worn mask of the drawn profile, standing off the face in front of the nose (eye distances).
WORN_PROFILE = [(-0.6, 0.35), (0.7, 0.3), (1.55, 0.75), (1.45, 1.45), (0.6, 1.95), (-0.5, 1.6)]


def profile_scene(colour, wall: tuple[int, int, int] | None = None, back: float = 0.0, worn=WORN_PROFILE):
    """A drawn head in profile whose worn mask stands off the face in front of the nose, as masks do
    seen from the side; (picture, the profile Face, worn-mask pixels). ``wall``: the background in
    front of the face, else a green unlike any mask; ``back``: the landmarks moved this many eye
    distances back from the face's front (a mesh slid onto the cheek)."""
    d, cx, cy = 60.0, 300.0, 220.0
    face = Face(
        Box(cx - 1.1 * d, cy - 0.9 * d, 2.0 * d, 2.6 * d),
        0.9,
        {n: Point(cx + (x - back) * d, cy + y * d) for n, (x, y) in PROFILE.items()},
        Pose(yaw=60),
    )
    image = Image.new("RGB", (600, 500), (96, 120, 104))
    draw = ImageDraw.Draw(image)
    if wall is not None:
        draw.rectangle([cx + 1.4 * d, 0, 600, 500], fill=wall)
    draw.ellipse([cx - 1.2 * d, cy - 1.3 * d, cx + 0.9 * d, cy + 1.9 * d], fill=(214, 170, 140))
    polygon = [(cx + x * d, cy + y * d) for x, y in worn]
    draw.polygon(polygon, fill=colour)
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    return image, face, np.asarray(mask) > 127


def _painted_cover(painted, shape) -> np.ndarray:
    cover = np.zeros(shape, np.float32)
    x0, y0, x1, y1 = painted.box
    cover[y0:y1, x0:x1] = painted.alpha
    return cover


def _worst_in_view(catalog, scene) -> float:
    """The largest share of the worn mask left in view over the catalog; ``scene()`` -> (picture, face, worn)."""
    shares = []
    for template in catalog.masks:
        image, face, worn = scene()
        (painted,) = paint_module.paint(image, [paint_module.PaintJob(face, template, seed=1)], keep_alpha=True)
        shares.append(float(np.mean(_painted_cover(painted, worn.shape)[worn] < 0.5)))
    return max(shares)


@pytest.mark.parametrize("colour", [(40, 44, 52), (120, 170, 220), (235, 236, 238)])
def test_a_profile_is_covered_where_its_mask_stands_off_in_front_of_the_nose(catalog, monkeypatch, colour):
    """In profile the front anchors sit near the nose-mouth line: the front is reached by moving them
    forward along the eye line (cover._push_front), not out from the centre."""
    import batch_job.cover as cover_module

    # Measured: 0.0 % for every mask in the catalog; without the forward move 24-26 %.
    assert _worst_in_view(catalog, lambda: profile_scene(colour)) < 0.02
    monkeypatch.setattr(cover_module, "FRONT_MIN_TURN", 2.0)
    assert _worst_in_view(catalog, lambda: profile_scene(colour)) > 0.15


def test_a_profile_against_a_wall_of_its_mask_colour_is_not_pulled_onto_the_wall(catalog, monkeypatch):
    """The worn mask touches a wall of its own colour in front of the face: the region leaks, and the
    front is not moved onto the wall."""
    import batch_job.cover as cover_module

    def reach_into_wall() -> float:
        image, face, worn = profile_scene((40, 44, 52), wall=(40, 44, 52))
        job = paint_module.PaintJob(face, catalog.masks[0], seed=1)
        (painted,) = paint_module.paint(image, [job], keep_alpha=True)
        columns = np.nonzero((_painted_cover(painted, worn.shape) > 0.5).any(axis=0))[0]
        return (float(columns.max()) - (300 + 1.4 * 60)) / 60

    # Measured, in eye distances past the wall's edge: -0.6 (short of it); without the wall the fit's
    # front reaches 0.7 past that edge (the worn mask's front); with the leak guard off, 1.05 into the wall.
    assert reach_into_wall() < 0.4
    monkeypatch.setattr(cover_module, "LEAK_PROBE", 10.0)
    assert reach_into_wall() > 0.4


def test_a_profile_whose_landmarks_sit_on_the_cheek_has_its_mask_found_in_front(catalog, monkeypatch):
    """The mesh slid back onto the cheek (real photos, yaw 50-80): the landmarks' lower face and the
    middle of the box are both skin, and the worn mask stands in front of them. The box's mouth seed,
    moved forward with the turn, finds it and the fit reaches over it."""
    import batch_job.cover as cover_module

    front = [(0.3, 0.35), (0.9, 0.3), (1.55, 0.75), (1.45, 1.45), (0.9, 1.95), (0.3, 1.7)]

    def scene():
        return profile_scene((235, 236, 238), back=0.6, worn=front)

    # Measured: 11-16 % in view over the catalog (a corner under the front, past the art's lower
    # front edge); with the box's seed in the box's middle (skin) the mask is not seen: 100 %.
    assert _worst_in_view(catalog, scene) < 0.2
    monkeypatch.setattr(cover_module, "BOX_MOUTH_FRONT", 0.0)
    assert _worst_in_view(catalog, scene) > 0.8
