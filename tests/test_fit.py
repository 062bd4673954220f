"""Geometry: known landmarks to expected pixel positions; the mesh warp; coverage of the painted mask."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from batch_job.detect.face import Box, Face, Point, Pose
from batch_job.fit import (
    CANONICAL_LANDMARKS,
    CHIN_OVERSHOOT,
    anchor_targets,
    fit_template,
    folded_triangles,
    template_points,
)
from batch_job.paint import PaintJob, paint
from batch_job.warp import Mesh, map_points, warp, warp_image
from masks.catalog import (
    ANCHOR_INDEX,
    ANCHOR_NAMES,
    CANONICAL,
    EYE_CLEAR_RADIUS,
    canonical_to_template,
    coverage_polygon,
)

IDX = ANCHOR_INDEX

# A frontal face in eye distances, Rekognition landmark names (x right, y down from the eye midpoint).
FRONTAL = CANONICAL_LANDMARKS


def make_face(d: float = 100.0, centre=(500.0, 400.0), roll_deg: float = 0.0, points=FRONTAL) -> Face:
    """The canonical face scaled to eye distance ``d``, turned counter-clockwise by ``roll_deg`` as displayed."""
    a = math.radians(roll_deg)
    # Counter-clockwise on screen (y down) is a negative angle in image coordinates.
    c, s = math.cos(-a), math.sin(-a)
    lm = {}
    for name, (x, y) in points.items():
        px, py = x * d, y * d
        lm[name] = Point(centre[0] + c * px - s * py, centre[1] + s * px + c * py)
    return Face(Box(centre[0] - d, centre[1] - 0.6 * d, 2 * d, 2.4 * d), 0.9, lm, Pose(roll=roll_deg))


def test_frontal_anchor_targets_land_on_the_canonical_layout():
    face = make_face(d=100, centre=(500, 400))
    targets = anchor_targets(face)
    for name in ("eye_left", "eye_right", "nose_tip", "jaw_left_low", "jaw_right_low"):
        cx, cy = CANONICAL[name]
        assert targets[IDX[name]] == pytest.approx((500 + 100 * cx, 400 + 100 * cy), abs=1.0), name
    # The chin target overshoots the landmarked chin by CHIN_OVERSHOOT eye distances.
    assert targets[IDX["chin"]] == pytest.approx((500, 400 + 100 * (1.62 + CHIN_OVERSHOOT)), abs=0.5)
    # Cheek points are read off the jaw line at the nose bridge's and nose tip's heights.
    assert targets[IDX["cheek_left"]][1] == pytest.approx(targets[IDX["nose_bridge"]][1], abs=0.5)
    assert targets[IDX["jaw_right_nose"]][1] == pytest.approx(targets[IDX["nose_tip"]][1], abs=0.5)
    assert targets[IDX["jaw_left_nose"]][0] < 500 - 95


@pytest.mark.parametrize("roll", [-90, -30, 0, 25, 60, 180])
def test_targets_follow_roll_at_any_angle(roll):
    upright = anchor_targets(make_face(d=80, centre=(0, 0)))
    rolled = anchor_targets(make_face(d=80, centre=(0, 0), roll_deg=roll))
    a = math.radians(-roll)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    assert rolled == pytest.approx(upright @ rot.T, abs=1e-6)


def test_mesh_maps_anchors_exactly_and_does_not_fold(catalog):
    template = catalog.get("respirator")
    for roll in (0, 30, -45):
        fit = fit_template(template, make_face(d=120, roll_deg=roll))
        assert folded_triangles(fit.mesh) == 0
        mapped = map_points(fit.mesh, template_points(template))
        assert mapped == pytest.approx(anchor_targets(make_face(d=120, roll_deg=roll)), abs=1e-6)


def test_turned_face_compresses_the_far_side():
    # Yaw: the nose moves right, the right jaw comes in (far side), the left stays (near side).
    turned = dict(FRONTAL, nose=(0.25, 0.6), midJawlineRight=(0.55, 1.1), upperJawlineRight=(0.7, 0.25),
                  eyeRight=(0.45, 0.0), mouthRight=(0.3, 1.0))  # fmt: skip
    face = make_face(d=100, centre=(0, 0), points=turned)
    t = anchor_targets(face)
    left_width = t[IDX["nose_tip"]][0] - t[IDX["jaw_left_nose"]][0]
    right_width = t[IDX["jaw_right_nose"]][0] - t[IDX["nose_tip"]][0]
    assert right_width < 0.75 * left_width
    # The far (right) side is pushed out a little for the mask wrapping round the cheek.
    plain = dict(turned)
    assert t[IDX["jaw_right_low"]][0] > 100 * plain["midJawlineRight"][0]


def test_identity_warp_reproduces_the_source():
    rng = np.random.default_rng(0)
    source = rng.random((60, 80, 4)).astype(np.float32)
    pts = np.array([[0, 0], [80, 0], [80, 60], [0, 60], [40, 30]], float)
    tris = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    out = warp(source, Mesh(pts, pts, tris), (0, 0, 80, 60))
    assert np.abs(out[1:-1, 1:-1] - source[1:-1, 1:-1]).max() < 1e-5


def test_warp_has_no_seams_between_triangles(catalog):
    # A flat template through a strongly bent mesh stays flat inside: no gaps, no double-painted edges.
    from PIL import Image

    flat = np.ones((200, 200, 4), np.float32)
    src = np.array([[0, 0], [200, 0], [200, 200], [0, 200], [100, 100]], float)
    dst = np.array([[10, 5], [190, 30], [170, 195], [5, 180], [120, 80]], float)
    mesh = Mesh(src, dst, np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]]))
    out = warp(flat, mesh, (0, 0, 200, 200))
    image = Image.frombytes("RGBa", (200, 200), (flat * 255).astype(np.uint8).tobytes())
    fast = np.asarray(warp_image(image, mesh, (0, 0, 200, 200)), dtype=np.float32) / 255
    inner = Image.new("L", (200, 200), 0)
    from PIL import ImageDraw

    shrunk = dst[:4] + (dst[4] - dst[:4]) * 0.05
    ImageDraw.Draw(inner).polygon([tuple(p) for p in shrunk], fill=255)
    inside = np.asarray(inner) > 0
    assert out[inside].min() > 0.999
    assert fast[inside].min() > 0.99


def test_fitted_mask_covers_its_coverage_polygon_on_the_face(catalog):
    # Every mask, fitted on a frontal face, is opaque over the surgical-mask area it replaces.
    from PIL import Image, ImageDraw

    face = make_face(d=90, centre=(300, 200))
    region = np.array([(300 + 90 * x, 200 + 90 * y) for x, y in coverage_polygon()])
    for template in catalog.masks:
        painted = paint(Image.new("RGB", (600, 520)), [PaintJob(face, template, seed=0)], keep_alpha=True)[0]
        x0, y0, x1, y1 = painted.box
        alpha = np.zeros((520, 600), np.float32)
        alpha[y0:y1, x0:x1] = painted.alpha
        stencil = Image.new("L", (600, 520), 0)
        draw = ImageDraw.Draw(stencil)
        # The coverage polygon shrunk by 6% towards its centre (the art's anti-aliased rim is
        # outside it), less the eye circles, which every mask leaves clear.
        centre = region.mean(axis=0)
        draw.polygon([tuple(p) for p in centre + (region - centre) * 0.94], fill=255)
        r = (EYE_CLEAR_RADIUS + 0.03) * 90
        for ex in (255, 345):
            draw.ellipse([ex - r, 200 - r, ex + r, 200 + r], fill=0)
        inside = np.asarray(stencil) > 0
        assert alpha[inside].mean() > 0.99, template.name
        # The eyes stay clear.
        for ex in (255, 345):
            assert alpha[195:205, ex - 5 : ex + 5].max() < 0.05, template.name


def test_canonical_to_template_matches_anchors(catalog):
    template = catalog.get("cat")
    for name in ANCHOR_NAMES:
        assert canonical_to_template(template, np.array(CANONICAL[name]))[0] == pytest.approx(
            template.anchors[name], abs=1.0
        )


def test_mask_follows_the_light_on_the_face(catalog, masked_pair_jpeg):
    """Half the face in shade: the mask is darker on that side too, and darker overall in shade."""
    import io

    from PIL import Image

    from batch_job.detect.local import LocalDetector
    from batch_job.pipeline import Context, process_photo
    from batch_job.settings import Settings
    from testing.synth import PersonSpec, make_scene

    ctx = Context(Settings(seed=1), LocalDetector(), (catalog.get("skull"),))
    scene = make_scene([PersonSpec(300, asset=1)], size=(700, 700), seed=3, positions=[(350, 300)])
    base = np.asarray(scene.image, dtype=np.float32)

    def masked_luma(gain: np.ndarray) -> np.ndarray:
        lit = Image.fromarray(np.clip(base * gain, 0, 255).astype(np.uint8))
        buffer = io.BytesIO()
        lit.save(buffer, "JPEG", quality=92)
        result = process_photo("x.jpg", buffer.getvalue(), ctx, keep_alpha=True)
        out = np.asarray(Image.open(io.BytesIO(result.output)).convert("L"), dtype=np.float32)
        (painted,) = result.painted
        x0, y0, x1, y1 = painted.box
        inside = painted.alpha > 0.99
        return out[y0:y1, x0:x1], inside, (x0 + x1) / 2 - x0

    flat, inside, mid = masked_luma(np.ones((1, 700, 1), np.float32))
    shade, inside_s, _ = masked_luma(np.full((1, 700, 1), 0.55, np.float32))
    assert shade[inside_s].mean() < 0.75 * flat[inside].mean()
    ramp = np.clip(np.linspace(0.35, 1.15, 700), 0, 1)[None, :, None].astype(np.float32)
    side, inside_r, mid = masked_luma(ramp)
    cols = np.arange(side.shape[1])[None, :].repeat(side.shape[0], 0)
    left = side[inside_r & (cols < mid - 20)].mean()
    right = side[inside_r & (cols > mid + 20)].mean()
    # Measured: 1.50 with the light field, 1.25 from the art's own shading (mirrored) alone.
    assert right > 1.4 * left


def _coverage_of(scene, result) -> list[float]:
    """Per masked face: the share of its painted surgical mask still visible after compositing."""
    from testing.synth import coverage_map, visible_share

    cover = coverage_map(result.painted, (scene.image.height, scene.image.width))
    return [visible_share(t, cover) for t in scene.faces if (t.mask_alpha > 0.5).any()]


@pytest.mark.parametrize("pitch", [-20, 20])
def test_pitched_faces_are_covered(ctx, pitch):
    from batch_job.pipeline import process_photo
    from testing.synth import PersonSpec, make_scene

    scene = make_scene([PersonSpec(220, pitch=pitch, asset=1)], size=(700, 700), seed=6, positions=[(350, 300)])
    result = process_photo("p.jpg", scene.jpeg(), ctx, keep_alpha=True)
    assert result.row.faces_masked == 1
    assert _coverage_of(scene, result)[0] < 0.05


def test_face_cut_by_the_frame_is_fitted_and_clipped(ctx):
    from batch_job.pipeline import process_photo
    from testing.synth import PersonSpec, make_scene

    # The face's centre sits 40 px from the left edge: part of the mask falls outside the photo.
    scene = make_scene([PersonSpec(200, asset=0)], size=(600, 500), seed=7, positions=[(40, 220)])
    result = process_photo("edge.jpg", scene.jpeg(), ctx, keep_alpha=True)
    assert result.row.status == "ok" and result.row.faces_masked == 1
    (painted,) = result.painted
    assert painted.box[0] == 0  # clipped at the frame, not shifted inside it
    assert _coverage_of(scene, result)[0] < 0.08


def test_overlapping_faces_paint_the_nearer_one_last(catalog):
    """The larger (nearer) face is painted last, whatever order the faces come in."""
    small = PaintJob(make_face(d=60, centre=(300, 200)), catalog.get("skull"), seed=1)
    large = PaintJob(make_face(d=110, centre=(370, 240)), catalog.get("respirator"), seed=2)
    rng = np.random.default_rng(0)
    blank = (rng.random((520, 640, 3)) * 60 + 150).astype(np.uint8)

    given = Image.fromarray(blank)
    paint(given, [large, small])
    expected = Image.fromarray(blank)
    paint(expected, [small])
    paint(expected, [large])
    wrong = Image.fromarray(blank)
    paint(wrong, [large])
    paint(wrong, [small])
    assert np.array_equal(np.asarray(given), np.asarray(expected))
    assert not np.array_equal(np.asarray(given), np.asarray(wrong))  # the faces do overlap, so the order shows


def test_a_profile_whose_far_jaw_crosses_the_nose_does_not_fold(catalog, monkeypatch):
    """In profile FaceMesh puts the far jaw across the nose (real photos, yaw 60-80): the far side is
    kept beyond the nose-mouth line, so the mesh does not fold and tear the art."""
    import batch_job.fit as fit_module

    profile = dict(FRONTAL, eyeRight=(0.25, 0.0), nose=(0.6, 0.6), mouthLeft=(0.05, 1.0), mouthRight=(0.45, 1.0),
                   mouthUp=(0.3, 0.9), mouthDown=(0.3, 1.1), upperJawlineRight=(0.3, 0.25),
                   midJawlineRight=(0.25, 1.1), chinBottom=(0.3, 1.62))  # fmt: skip
    face = make_face(d=100, centre=(400, 300), points=profile)
    for template in catalog.masks:
        assert folded_triangles(fit_template(template, face).mesh) == 0, template.name
    monkeypatch.setattr(fit_module, "MIN_SIDE", -10.0)  # the rule off: the same landmarks fold the mesh
    assert sum(folded_triangles(fit_template(t, face).mesh) for t in catalog.masks) > 0


def test_a_squeezed_triangle_reads_a_reduced_copy_of_the_art():
    """The far side of a face in profile squeezes the art 10-20x across: sampled from the face's own
    level it aliases into stripes; the finer-level path reads an area-averaged copy instead."""
    from batch_job.warp import minification

    stripes = np.zeros((100, 400, 4), np.uint8)
    stripes[:, ::3, :3] = 255  # two white columns, one black: a period that 20x sampling does not hide
    stripes[:, 1::3, :3] = 255
    stripes[..., 3] = 255
    source = Image.fromarray(stripes, "RGBA").convert("RGBa")
    src = np.array([[0, 0], [400, 0], [400, 100], [0, 100]], float)
    dst = np.array([[10, 10], [30, 10], [30, 110], [10, 110]], float)  # 20x narrower, same height
    mesh = Mesh(src, dst, np.array([[0, 1, 2], [0, 2, 3]]))
    assert minification(mesh) == pytest.approx([20.0, 20.0])
    box = (10, 10, 30, 110)
    aliased = np.asarray(warp_image(source, mesh, box), np.float32)[5:-5, 2:-2, 0]
    reduced = source.resize((25, 100), Image.Resampling.BOX)  # 16x fewer columns: the stripes average to light grey
    clean = np.asarray(warp_image(source, mesh, box, [(reduced, 25 / 400)], np.array([1, 1])), np.float32)[
        5:-5, 2:-2, 0
    ]
    assert abs(clean.mean() - 170) < 12 and clean.std() < 12
    assert aliased.std() > 3 * clean.std()


def test_landmarks_tilted_far_in_an_upright_box_are_replaced_by_the_box(ctx, monkeypatch):
    """FaceMesh on an ear or the back of a head (real photos: the down axis 45-140 degrees from an
    upright box's vertical): the face is fitted from its box alone and the worn mask is covered; the
    same landmarks trusted draw the mask sideways beside it."""
    import batch_job.fit as fit_module
    from testing.synth import PersonSpec, coverage_map, make_scene, visible_share

    scene = make_scene([PersonSpec(200, colour="white", asset=1)], size=(600, 600), seed=3, positions=[(300, 260)])
    from batch_job.imaging import Photo

    (found,) = ctx.detector.detect(Photo(scene.jpeg()))
    assert found.box.h >= found.box.w
    # The mesh swung 80 degrees round the far cheek, as on the ear of a face in profile.
    pivot = found.landmarks["upperJawlineRight"]
    a = math.radians(80)
    c, s = math.cos(a), math.sin(a)
    swung = {
        n: Point(
            pivot.x + c * (p.x - pivot.x) - s * (p.y - pivot.y), pivot.y + s * (p.x - pivot.x) + c * (p.y - pivot.y)
        )
        for n, p in found.landmarks.items()
    }
    face = Face(found.box, found.score, swung, found.pose, found.occluded, found.mesh_score)
    (truth,) = scene.faces

    def left_in_view() -> float:
        picture = scene.image.copy()
        painted = paint(picture, [PaintJob(face, ctx.pool[0], seed=1)], keep_alpha=True)
        return visible_share(truth, coverage_map(painted, (picture.height, picture.width)))

    # Measured (three synthetic heads): 10-11 % of the worn mask in view from the box (the box's
    # canonical eye line sits a little low on these heads), 89-90 % from the swung landmarks.
    assert left_in_view() < 0.2
    monkeypatch.setattr(fit_module, "MAX_TILT_IN_UPRIGHT_BOX", 180.0)
    assert left_in_view() > 0.6


def test_a_squashed_lower_face_is_fitted_down_to_the_box(ctx, monkeypatch):
    """On a blurred face FaceMesh squashes the lower face upward (dev photos: the chin at 0.87 of the
    box): the chin target comes down to the box's bottom and the worn mask is covered."""
    import batch_job.fit as fit_module
    from batch_job.imaging import Photo
    from testing.synth import PersonSpec, coverage_map, make_scene, visible_share

    scene = make_scene([PersonSpec(200, colour="white", asset=1)], size=(600, 600), seed=3, positions=[(300, 260)])
    (found,) = ctx.detector.detect(Photo(scene.jpeg()))
    (truth,) = scene.faces
    eyes = (found.landmarks["eyeLeft"] + found.landmarks["eyeRight"]).scale(0.5)
    # Everything under the eyes pulled up to half its height: the squashed lower face.
    squashed = {n: Point(p.x, eyes.y + (p.y - eyes.y) * 0.5) if p.y > eyes.y else p for n, p in found.landmarks.items()}
    face = Face(found.box, found.score, squashed, found.pose, found.occluded, found.mesh_score)

    def left_in_view() -> float:
        picture = scene.image.copy()
        painted = paint(picture, [PaintJob(face, ctx.pool[0], seed=1)], keep_alpha=True)
        return visible_share(truth, coverage_map(painted, (picture.height, picture.width)))

    # The worn-mask reach off, as where its region leaks into dark hair or a collar (dev 074): the fit
    # alone. Measured: 0.4 % in view with the chin brought to the box, 24 % from the squashed landmarks.
    import batch_job.paint as paint_module

    monkeypatch.setattr(paint_module, "worn_mask_reach", lambda *a, **k: None)
    measured = left_in_view()
    monkeypatch.setattr(fit_module, "CHIN_IN_BOX", 0.0)
    off = left_in_view()
    assert measured < 0.05 and off > 0.1, (measured, off)
