"""The candidate signals bench/wearing_signals.py measures, and train_wearing's ranking figures.

The signals are read on a photo composed here from the repo's own portraits
(testing/synth.py), bare and then with a dark covering drawn over the lower
face along its landmarks: what each signal says must change the right way.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from batch_job import wearing as W
from batch_job.imaging import Photo
from bench.train_wearing import UNLABELLED, ranking
from bench.wearing_signals import level_features, lower_features, lower_patch, texture_features
from testing.synth import PersonSpec, make_scene


def test_ranking_counts_masked_faces_above_the_allowed_bare_faces():
    # Bare faces 0.9, 0.8, 0.1, 0.05; allowing 1 bare face puts the bar at 0.8 (the second).
    prob = np.array([0.95, 0.85, 0.7, 0.2, 0.9, 0.8, 0.1, 0.05, 0.99, 0.3])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, UNLABELLED, UNLABELLED])
    widths = np.array([20, 50, 30, 60, 50, 50, 50, 50, 50, 50])
    r = ranking(prob, y, widths, 1)
    assert r["recall"] == 0.5  # 0.95 and 0.85 of the four
    assert r["recall <40"] == 0.5  # 0.95 of the 20 and 30 px faces
    assert r["unlabelled"] == 0.5
    assert r["AUC bare"] == pytest.approx(11 / 16)  # masked-over-bare pairs in order, of 16


@pytest.fixture(scope="module")
def bare_and_covered(detector):
    scene = make_scene([PersonSpec(180, masked=False, asset=0)], size=(700, 500), seed=4)
    jpeg = scene.jpeg()
    (face,) = detector.detect(Photo(jpeg))
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    lm = face.landmarks
    d = face.eye_distance
    # A dark cloth over the nose and mouth down past the chin.
    cx, cy = lm["nose"].x, (lm["nose"].y + lm["chinBottom"].y) / 2
    ImageDraw.Draw(image).ellipse((cx - 1.05 * d, cy - 0.75 * d, cx + 1.05 * d, cy + 0.95 * d), fill=(28, 30, 36))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    covered = Photo(out.getvalue())
    (face_covered,) = detector.detect(covered)
    return (Photo(jpeg), face), (covered, face_covered)


def _skin_share(patch: np.ndarray) -> float:
    return float(np.mean(W.is_skin(W.srgb_to_lab(patch.reshape(-1, 3)))))


def test_the_lower_patch_follows_the_landmarks_onto_the_covering(bare_and_covered):
    (bare, face), (covered, face_covered) = bare_and_covered
    before = lower_patch(*W.view(bare, face), face)
    after = lower_patch(*W.view(covered, face_covered), face_covered)
    assert before.shape == (16, 16, 3)
    assert _skin_share(before) > 0.6 > 0.2 > _skin_share(after)
    reference = np.median(W.srgb_to_lab(before[:3].reshape(-1, 3)), axis=0)
    # Its 4 x 4 Lab means against the face's own colour: near on bare skin, far (darker) on the cloth.
    lightness = lower_features(after, reference)[0:48:3]
    assert np.mean(lightness) < np.mean(lower_features(before, reference)[0:48:3]) - 1.0


def test_texture_reads_the_lower_face_against_the_forehead(bare_and_covered):
    (bare, face), (covered, face_covered) = bare_and_covered
    before = texture_features(W.aligned_patch(*W.view(bare, face), face, 64))
    after = texture_features(W.aligned_patch(*W.view(covered, face_covered), face_covered, 64))
    assert len(before) == len(after) == 39
    # The share of the lower face within 12 of the forehead's colour, and the share skin-like.
    assert before[-3] > after[-3] + 0.3 and before[-2] > after[-2] + 0.3


def test_level_features_read_the_crop_the_check_already_runs(bare_and_covered):
    (_, _), (covered, face) = bare_and_covered
    session, name = W._mask_detector()
    (cls,) = session.run(None, {name: W.mask_crop(*W.view(covered, face), face)})
    levels = level_features(cls[0].astype(np.float64))
    assert len(levels) == 8 and all(0.0 <= v <= 1.0 for v in levels)
    # The same maxima as mask_detector_features' "at the face" pair, level by level.
    at_face = W.mask_detector_features(W.mask_crop(*W.view(covered, face), face))[:2]
    assert max(levels[0::2]) >= at_face[0] - 1e-6 and max(levels[1::2]) >= at_face[1] - 1e-6
