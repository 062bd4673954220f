"""Fuzzing in the suite: a bounded slice of testing/fuzz.py, geometry properties, and every crash it found.

The long run is by hand (``python -m testing.fuzz --minutes 30``); here hypothesis
drives the same mutations and the same ``check`` for a few seconds each, with
the random-faces detector (the local one costs ~0.3 s a photo).
"""

from __future__ import annotations

import io
import json
import math
import random
from struct import error as struct_error

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from batch_job.detect.face import LANDMARK_NAMES, Box, Face, Point, Pose
from testing import fuzz

# Pillow warns on every corrupt EXIF block it skips; with mutated photos that is the point.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")

BOUNDED = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.fixture(scope="module")
def inputs() -> dict[str, bytes]:
    real = fuzz.real_photos()
    # The smaller photos keep each example fast; the oddities are the point.
    small = {k: v for k, v in real.items() if len(v) < 200_000}
    return small | fuzz.oddities(Image.open(io.BytesIO(real["day2/museum_portrait.jpg"])))


@BOUNDED
@given(seed=st.integers(0, 2**32 - 1))
def test_mutated_photos_never_crash_the_pipeline(inputs, seed):
    case, data = fuzz.make_case(seed, inputs, ["random"])
    ctx = fuzz.make_context(fuzz.RandomFaces(random.Random(seed)))
    fuzz.check(case.base, data, ctx)  # raises fuzz.Crash on an internal error or an unreadable output


coordinate = st.floats(-1e5, 1e5, allow_nan=False)


@st.composite
def faces(draw, width: int, height: int) -> Face:
    """Any face box and landmarks anywhere: off the image, degenerate, collinear, crossed."""
    names = LANDMARK_NAMES if draw(st.booleans()) else draw(st.lists(st.sampled_from(LANDMARK_NAMES), unique=True))
    shared = draw(st.none() | st.tuples(coordinate, coordinate))
    landmarks = {
        n: Point(*shared) if shared else Point(draw(st.floats(-width, 2 * width)), draw(st.floats(-height, 2 * height)))
        for n in names
    }
    box = Box(draw(coordinate), draw(coordinate), draw(st.floats(0, 1e5)), draw(st.floats(0, 1e5)))
    pose = Pose(draw(st.floats(-180, 180)), draw(st.floats(-90, 90)), draw(st.floats(-90, 90)))
    return Face(box, draw(st.floats(0, 1)), landmarks, pose, draw(st.none() | st.floats(0, 1)))


@BOUNDED
@given(data=st.data())
def test_any_face_geometry_never_raises(data):
    photo = fuzz._save(Image.new("RGB", (160, 120), (120, 110, 100)), "JPEG")
    found = data.draw(st.lists(faces(160, 120), max_size=3))
    fuzz.check("p.jpg", photo, fuzz.make_context(fuzz.FixedFaces(found)))


# -- every crash the fuzzer found, as its own case --------------------------------------------


def _face(points: dict[str, tuple[float, float]], box=(10, 10, 60, 60)) -> Face:
    landmarks = {n: Point(*points.get(n, points.get("*", (40, 40)))) for n in LANDMARK_NAMES}
    return Face(Box(*box), 0.9, landmarks, Pose())


def test_regression_coincident_eyes_are_not_a_face_to_fit():
    # fuzz seed 122: every landmark on one point -> fit.frame_of "eyes coincide" inside the wearing check.
    photo = fuzz._save(Image.new("RGB", (120, 100), (200, 180, 160)), "JPEG")
    row = fuzz.check("p.jpg", photo, fuzz.make_context(fuzz.FixedFaces([_face({"*": (50, 50)})])))
    assert row["status"] == "ok" and row["masked"] == 0
    infinite = _face({"*": (50, 50), "eyeRight": (math.inf, 50)})
    assert not infinite.has_landmarks


def test_regression_strip_10000x1_through_the_local_detector(detector):
    # fuzz seed 1029: a 10000x1 JPEG made the close-up pass resize to 0 px high (ZeroDivisionError).
    strip = fuzz.oddities(Image.new("RGB", (64, 64)))["strip_10000x1.jpg"]
    row = fuzz.check("strip.jpg", strip, fuzz.make_context(detector))
    assert row["status"] == "no_faces"


def test_regression_corrupt_exif_block_still_decodes():
    # fuzz seed 21: random bytes over a HEIC's EXIF header -> SyntaxError "not a TIFF file" from exif_transpose.
    import batch_job.imaging  # noqa: F401 - registers pillow-heif's HEIF writer

    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), (90, 90, 90)).save(buffer, "HEIF", exif=b"Exif\x00\x00\xa3\xc9`\x0ecu\xe2M" + bytes(40))
    broken = buffer.getvalue()
    with pytest.raises(SyntaxError):  # the input really has the fault
        Image.open(io.BytesIO(broken)).getexif()
    faces = [
        _face({"eyeLeft": (15, 20), "eyeRight": (35, 20), "nose": (25, 30), "chinBottom": (25, 44)}, box=(5, 5, 40, 40))
    ]
    row = fuzz.check("exif.heic", broken, fuzz.make_context(fuzz.FixedFaces(faces)))
    assert row["status"] == "ok" and row["masked"] == 1


def test_regression_cut_gif_counting_frames():
    # fuzz seed 26011 (run of 20 min, random faces): a 1x1 GIF cut and spliced; Pillow's n_frames
    # raised struct.error from Photo() - past the pipeline's PhotoError net, out of process_photo.
    data = bytes.fromhex("474946383761010001008000000000000000002c00000000010001000000000000002c0000")
    row = fuzz.check("one_pixel.gif", data, fuzz.make_context(fuzz.FixedFaces([])))
    assert row["status"] == "error" and "frames" in row["reason"]


def test_an_exception_escaping_the_pipeline_is_a_row_not_a_dead_album(tmp_path, monkeypatch):
    # The runner's own net, for whatever the next fuzz run finds: the album finishes, exit 1.
    from typer.testing import CliRunner

    import batch_job.runner
    from cli.app import app

    album = tmp_path / "a"
    album.mkdir()
    (album / "bad.png").write_bytes(fuzz._save(Image.new("RGB", (40, 30)), "PNG"))
    (album / "good.png").write_bytes(fuzz._save(Image.new("RGB", (50, 30)), "PNG"))
    real = batch_job.runner.process_photo

    def flaky(key, data, ctx):
        if key == "bad.png":
            raise struct_error("unpack_from requires a buffer of at least 4 bytes")
        return real(key, data, ctx)

    monkeypatch.setattr(batch_job.runner, "process_photo", flaky)
    result = CliRunner().invoke(app, ["run", str(album), "--out", str(tmp_path / "o"), "--workers", "1", "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["photos"] == 2 and summary["error"] == 1 and summary["no_faces"] == 1
    assert "internal error: error: unpack_from" in summary["errors"][0]["reason"]
