"""The (unshipped) int8 CenterFace experiment: still builds, and agrees with the float model it is built from."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

import batch_job.detect.local as local
from batch_job.detect.models import convert
from testing.synth import FACES_DIR, PersonSpec, make_scene

# Measured on these pictures when the model was built: scores within 0.05 on the portraits and
# 0.15 on the drawn masked faces (all far above the 0.33 threshold), boxes IoU >= 0.85, points
# within 6 % of the box width.
SCORE_TOLERANCE = 0.2
MIN_IOU = 0.8
POINT_TOLERANCE = 0.08  # of the face's box width


def _iou(a, b) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    built = convert.build_int8(tmp_path_factory.mktemp("int8"))
    threshold = local.Settings.detect_threshold
    float_model = local.CenterFace(threshold, model="centerface.onnx")
    int8_model = local.CenterFace(threshold)
    int8_model._session = local.onnx_session(built.name, data=built.read_bytes())
    return float_model, int8_model, built


@pytest.mark.parametrize("name", ["astronaut", "hopper"])
def test_int8_finds_the_real_faces_the_float_model_finds(models, name):
    image = Image.open(FACES_DIR / f"{name}.png").convert("RGB")
    reference, quantised = (model(image) for model in models[:2])
    assert len(reference) == len(quantised) == 1
    a, b = reference[0], quantised[0]
    assert abs(a.score - b.score) <= SCORE_TOLERANCE
    assert _iou(a.box, b.box) >= MIN_IOU
    assert np.abs(a.points - b.points).max() <= POINT_TOLERANCE * a.box.w


def test_int8_finds_masked_faces_of_survey_sizes_like_the_float_model(models):
    people = [PersonSpec(40, asset=0), PersonSpec(70, asset=1, skin="deep"), PersonSpec(130, colour="paleblue")]
    image = make_scene(people, size=(800, 600), seed=4).image.convert("RGB")
    reference, quantised = (sorted(model(image), key=lambda c: c.box.x) for model in models[:2])
    assert len(reference) == len(quantised) == 3
    for a, b in zip(reference, quantised, strict=True):
        assert abs(a.score - b.score) <= SCORE_TOLERANCE
        assert _iou(a.box, b.box) >= MIN_IOU


def test_the_detector_runs_the_float_model():
    # The int8 build is an experiment: the wearing check is fitted on the float model's scores.
    assert local.CENTERFACE_MODEL == "centerface.onnx"


def test_int8_build_is_reproducible(models, tmp_path):
    import onnxruntime

    again = convert.build_int8(tmp_path)
    if onnxruntime.__version__ == convert.QUANTISED_WITH:
        assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(models[2].read_bytes()).digest()
