"""The local detector (real models) and the who-wears-a-mask check, on faces with known truth."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from batch_job.detect.base import create_detector, detector_names
from batch_job.errors import UsageError
from batch_job.imaging import Photo
from batch_job.settings import Settings
from batch_job.wearing import assess, view
from bench.synth import FACES_DIR, PersonSpec, make_scene
from bench.wearing import evaluate
from helpers import encode, gradient_image

ROOT = Path(__file__).resolve().parent.parent


def _detect_one(detector, scene):
    photo = Photo(scene.jpeg())
    faces = detector.detect(photo)
    return photo, faces


@pytest.mark.parametrize(("width", "yaw", "roll", "asset"), [(60, 0, 0, 0), (160, 20, -15, 1), (420, -30, 25, 0), (900, 0, 10, 1)])
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


def test_local_threshold_default_matches_settings():
    from batch_job.detect.local import LocalDetector

    assert LocalDetector.__init__.__defaults__[0] == Settings().detect_threshold


def test_models_rebuild_from_their_wheels_byte_for_byte():
    """Provenance: the committed ONNX files are exactly what convert.py makes from the PyPI wheels."""
    probe = subprocess.run([sys.executable, "-c", "import onnx, tflite2onnx"], capture_output=True)
    assert probe.returncode == 0, "dev tools missing: pip install -e .[dev]"
    result = subprocess.run(
        [sys.executable, str(ROOT / "batch_job/detect/models/convert.py"), "--check"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("identical") == 2
