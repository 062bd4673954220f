"""The learned who-wears-a-mask check and the face checks, on photos composed here from the repo's own portraits.

Each covering is drawn onto a bare synthetic person (bench/synth.py, built from
the public-domain portraits in bench/faces/) along that face's own landmarks:
a patterned olive cloth mask, a black cloth mask, a KN95 with its seam and
pointed chin. None is a shape the old colour rule was tuned on.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from batch_job.imaging import Photo
from batch_job.pipeline import process_photo
from batch_job.wearing import assess, view
from testing.synth import PersonSpec, make_scene


def _frame(face):
    el = np.array([face.landmarks["eyeLeft"].x, face.landmarks["eyeLeft"].y])
    er = np.array([face.landmarks["eyeRight"].x, face.landmarks["eyeRight"].y])
    d = float(np.linalg.norm(er - el))
    ex = (er - el) / d
    ey = np.array([-ex[1], ex[0]])
    return (el + er) / 2, ex, ey, d


def _covering(face, kind: str) -> list[tuple[float, float]]:
    mid, ex, ey, d = _frame(face)

    def at(x: float, y: float) -> tuple[float, float]:
        p = mid + ex * x * d + ey * y * d
        return float(p[0]), float(p[1])

    if kind == "kn95":
        # Flat top over the nose bridge, straight sides, a point well under the chin.
        return [at(-0.95, 0.35), at(0.0, 0.25), at(0.95, 0.35), at(0.9, 1.05), at(0.0, 1.75), at(-0.9, 1.05)]
    return [
        at(-1.0, 0.45),
        at(0.0, 0.38),
        at(1.0, 0.45),
        at(0.95, 1.1),
        at(0.5, 1.5),
        at(0.0, 1.6),
        at(-0.5, 1.5),
        at(-0.95, 1.1),
    ]


def _wear(jpeg: bytes, face, kind: str) -> bytes:
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    draw = ImageDraw.Draw(image)
    poly = _covering(face, kind)
    mid, ex, ey, d = _frame(face)
    if kind == "olive":
        draw.polygon(poly, fill=(104, 110, 58))
        # A printed pattern: small light paisley-ish dots over the cloth.
        rng = np.random.default_rng(5)
        lo, hi = np.min(poly, axis=0), np.max(poly, axis=0)
        cover = Image.new("L", image.size, 0)
        ImageDraw.Draw(cover).polygon(poly, fill=255)
        for _ in range(60):
            x, y = rng.uniform(lo, hi)
            if cover.getpixel((int(x), int(y))):
                r = d * 0.05
                draw.ellipse((x - r, y - r * 0.6, x + r, y + r * 0.6), fill=(214, 196, 120))
    elif kind == "black":
        draw.polygon(poly, fill=(30, 30, 34))
    else:  # kn95
        draw.polygon(poly, fill=(238, 238, 232))
        top, bottom = mid + ey * 0.25 * d, mid + ey * 1.75 * d
        draw.line([tuple(top), tuple(bottom)], fill=(200, 200, 194), width=max(1, int(d * 0.03)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture(scope="module")
def bare_scene(detector):
    scene = make_scene([PersonSpec(170, masked=False, asset=0), PersonSpec(150, masked=False, asset=1, skin="deep")],
                       size=(900, 600), seed=21)  # fmt: skip
    jpeg = scene.jpeg()
    faces = detector.detect(Photo(jpeg))
    assert len(faces) == 2
    return jpeg, faces


def test_bare_faces_are_bare(bare_scene):
    jpeg, faces = bare_scene
    photo = Photo(jpeg)
    for face in faces:
        assert not assess(*view(photo, face), face).masked


@pytest.mark.parametrize("kind", ["olive", "black", "kn95"])
def test_coverings_of_any_colour_and_shape_count_as_masks(detector, bare_scene, kind):
    jpeg, faces = bare_scene
    for face in faces:
        jpeg = _wear(jpeg, face, kind)
    photo = Photo(jpeg)
    found = detector.detect(photo)
    assert len(found) == 2
    for face in found:
        verdict = assess(*view(photo, face), face)
        assert verdict.masked, (kind, verdict)


def test_a_dark_blob_gets_no_mask(ctx):
    # A dark upright shape with a lighter band, the size of a head, beside one masked person:
    # only the person may be painted.
    scene = make_scene([PersonSpec(140, masked=True, asset=1)], size=(900, 600), seed=8, positions=[(250, 260)])
    image = scene.image.copy()
    draw = ImageDraw.Draw(image)
    draw.ellipse((600, 180, 700, 310), fill=(30, 28, 26))
    draw.rectangle((635, 300, 665, 600), fill=(36, 34, 32))
    draw.rectangle((612, 250, 688, 275), fill=(170, 168, 160))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    result = process_photo("blob.jpg", out.getvalue(), ctx)
    replaced = [f for f in result.faces if f.action == "replaced"]
    assert len(replaced) == 1
    assert replaced[0].x < 450


def test_one_box_per_head_across_scales():
    from batch_job.detect.face import Box
    from batch_job.detect.local import Candidate, _merge

    def cand(x, y, w, h, score):
        return (Candidate(Box(x, y, w, h), score, np.zeros((5, 2))), score)

    face = cand(100, 100, 80, 100, 0.9)
    hair = cand(110, 80, 50, 45, 0.5)  # IoU 0.15 with the face: NMS alone keeps both
    neighbour = cand(165, 110, 80, 100, 0.8)  # the next head in a crowd overlaps a little
    kept = _merge([face, hair, neighbour])
    assert [c.box.x for c in kept] == [100, 165]


def test_labels_match_detections_by_overlap_or_centres():
    from bench.real_photos import Label, match

    labels = [Label(0, True, 100, 100, 40, 40), Label(1, False, 300, 100, 40, 40)]
    rows = [
        {"x": 95, "y": 90, "w": 50, "h": 60},  # a taller detector box round label 0
        {"x": 315, "y": 95, "w": 10, "h": 40},  # IoU 0.21, but each centre lies inside the other box
        {"x": 500, "y": 500, "w": 40, "h": 40},  # matches nothing
    ]
    assert match(labels, rows) == {0: (0, pytest.approx(1600 / 3000)), 1: (1, pytest.approx(350 / 1650))}


# -- the mask detector's second opinion and the plausibility features ---------------------------


def test_the_mask_detector_sees_the_painted_mask(detector, bare_scene):
    """Its "mask" score at the face rises when a covering is drawn on, and its "no mask" score falls."""
    from batch_job.wearing import mask_crop, mask_detector_features

    jpeg, faces = bare_scene
    bare_photo = Photo(jpeg)
    worn = jpeg
    for face in faces:
        worn = _wear(worn, face, "kn95")
    worn_photo = Photo(worn)
    for face in faces:
        bare = mask_detector_features(mask_crop(*view(bare_photo, face), face))
        masked = mask_detector_features(mask_crop(*view(worn_photo, face), face))
        assert masked[0] > bare[0] + 0.3, (bare, masked)
        assert masked[1] < bare[1], (bare, masked)


def test_the_mask_detector_reads_faces_at_the_photos_edge():
    """A face box reaching past the photo's corner: the crop is padded black, the scores still come."""
    from batch_job.detect.face import Box, Face
    from batch_job.wearing import MASK_SIDE, mask_crop, mask_detector_features

    image = Image.new("RGB", (300, 200), (120, 140, 160))
    for box in (Box(-40, -30, 90, 100), Box(260, 150, 80, 90), Box(10, 10, 0.5, 0.5)):
        crop = mask_crop(image, 1.0, Face(box, 0.5), MASK_SIDE)
        assert crop.shape == (1, 3, MASK_SIDE, MASK_SIDE) and crop.dtype == np.float32
        scores = mask_detector_features(crop)
        assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("side", [96, 128, 160, 260])
def test_the_mask_detectors_anchors_match_its_outputs_at_any_side(side):
    from batch_job.wearing import _mask_anchor_centres, _mask_detector

    session, name = _mask_detector()
    (scores,) = session.run(None, {name: np.zeros((1, 3, side, side), np.float32)})
    assert scores.shape == (1, len(_mask_anchor_centres(side)), 2)


def test_plausibility_tells_a_face_from_a_squashed_mesh(bare_scene):
    """A real face's landmarks lie as a face's do; the same points squashed and pushed out of the box do not."""
    import dataclasses

    from batch_job.detect.face import Point
    from batch_job.wearing import _plausibility

    _, faces = bare_scene
    for face in faces:
        nose, mouth, chin, off, tilt, inside = _plausibility(face)
        assert 0.3 < nose < 0.9 and 0.8 < mouth < 1.4 and 1.3 < chin < 2.2, (nose, mouth, chin)
        assert off < 0.3 and tilt < 0.3 and inside == 1.0
        mid = face.landmarks["eyeLeft"].lerp(face.landmarks["eyeRight"], 0.5)
        squashed = {k: Point(p.x, mid.y + (p.y - mid.y) * 0.3 + face.box.h * 0.8) for k, p in face.landmarks.items()}
        flat = _plausibility(dataclasses.replace(face, landmarks=squashed))
        assert flat[2] < 0.8 * chin and flat[5] < 1.0
