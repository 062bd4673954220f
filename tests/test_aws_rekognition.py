"""The Rekognition detector: botocore's Stubber for response mapping (it validates both the request and
the response against the service model), and the HTTP fake for what only a real exchange shows:
botocore's retries on throttling, and the bound on requests in flight.

Stubber answers before botocore's retry loop runs (at ``before-call``), so a throttling test through
it could never see a retry; those tests use ``FakeRekognition`` instead.
"""

from __future__ import annotations

import io
import threading
import time

import boto3
import numpy as np
import pytest
from botocore.stub import ANY, Stubber
from PIL import Image

from batch_job.aws import ServiceUnavailable, rekognition_client
from batch_job.detect.face import LANDMARK_NAMES, Box, Face, Point, Pose
from batch_job.detect.rekognition import (
    ATTRIBUTES,
    MAX_BYTES,
    SEND_LONG_SIDE,
    HybridDetector,
    Pacer,
    RekognitionDetector,
)
from batch_job.errors import DetectorError
from batch_job.imaging import Photo
from batch_job.pipeline import Context, process_photo
from batch_job.settings import Settings
from testing.aws_fakes import FakeRekognition, detect_faces_response, face_detail, jpeg_size
from testing.helpers import encode, scene_jpeg
from testing.synth import PersonSpec

PARAMS = {"Image": {"Bytes": ANY}, "Attributes": ATTRIBUTES}


@pytest.fixture
def client():
    return boto3.client(
        "rekognition", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def sent(client) -> list[bytes]:
    """The image bytes each DetectFaces request carried, as the service would receive them."""
    images: list[bytes] = []
    client.meta.events.register(
        "before-parameter-build.rekognition.DetectFaces", lambda params, **_: images.append(params["Image"]["Bytes"])
    )
    return images


@pytest.fixture(scope="module")
def upright_photo() -> bytes:
    return scene_jpeg([PersonSpec(190, asset=0)], size=(900, 700), seed=21)


def rotated_with_exif(upright_jpeg: bytes) -> bytes:
    """The same picture stored sideways with EXIF orientation 6, as a phone held upright writes it."""
    image = Image.open(io.BytesIO(upright_jpeg))
    stored = image.transpose(Image.Transpose.ROTATE_90)  # orientation 6 rotates this back 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=92, exif=exif.tobytes())


def rekognition_ctx(client, catalog, **settings) -> Context:
    s = Settings(seed=1, detector="rekognition", **settings)
    return Context(s, RekognitionDetector(client, concurrency=2, threshold=s.detect_threshold), catalog.masks)


def test_masked_face_is_found_upright_and_gets_a_monster_mask(client, sent, detector, catalog, upright_photo):
    # The truth: what the local detector sees in the upright picture, written as Rekognition would answer.
    truth = detector.detect(Photo(upright_photo))
    assert len(truth) == 1
    data = rotated_with_exif(upright_photo)
    with Stubber(client) as stub:
        stub.add_response(
            "detect_faces", detect_faces_response([face_detail(truth[0], (900, 700))], ATTRIBUTES), PARAMS
        )
        result = process_photo("IMG_0001.jpg", data, rekognition_ctx(client, catalog))
        stub.assert_no_pending_responses()

    assert jpeg_size(sent[0]) == (900, 700)  # upright, not the sideways stored pixels
    assert result.row.status == "ok" and result.row.detector == "rekognition"
    assert (result.row.width, result.row.height) == (900, 700)
    assert result.row.faces_masked == 1
    face = result.faces[0]
    assert (face.x, face.y, face.w, face.h) == (
        round(truth[0].box.x),
        round(truth[0].box.y),
        round(truth[0].box.w),
        round(truth[0].box.h),
    )
    assert face.action == "replaced" and face.wearing_mask
    # The monster mask is painted over the lower face, upright.
    before = np.asarray(Image.open(io.BytesIO(upright_photo)).convert("RGB"), dtype=np.int16)
    after = np.asarray(Image.open(io.BytesIO(result.output)).convert("RGB"), dtype=np.int16)
    mouth = truth[0].landmarks["mouthUp"]
    window = (slice(int(mouth.y) - 8, int(mouth.y) + 8), slice(int(mouth.x) - 8, int(mouth.x) + 8))
    assert np.abs(after[window] - before[window]).mean() > 20


# -- what AWS answers for each Attributes value, and why the detector asks for ALL --------------------


def _full_face() -> Face:
    box = Box(300, 200, 200, 240)
    return Face(box, 0.99, {n: Point(320 + k * 5, 230 + k * 6) for k, n in enumerate(LANDMARK_NAMES)}, Pose(1, 2, 3))


@pytest.mark.parametrize(
    ("attributes", "landmarks", "occluded", "extra"),
    [
        (None, 5, False, False),
        (["DEFAULT"], 5, False, False),
        (["DEFAULT", "FACE_OCCLUDED"], 5, True, False),
        (["ALL"], 30, True, True),
        (["ALL", "DEFAULT"], 30, True, True),
    ],
)
def test_the_fake_answers_what_aws_documents_for_each_attribute_set(creds, attributes, landmarks, occluded, extra):
    detail = face_detail(_full_face(), (1000, 800))
    with FakeRekognition(lambda _image: detect_faces_response([detail], ["ALL"]), latency=0.0) as fake:
        client = rekognition_client(Settings(region="us-east-1"), endpoint_url=fake.url)
        image = {"Bytes": encode(Image.new("RGB", (1000, 800), (90, 90, 90)), "JPEG")}
        kwargs = {} if attributes is None else {"Attributes": attributes}
        (answer,) = client.detect_faces(Image=image, **kwargs)["FaceDetails"]
    assert len(answer["Landmarks"]) == landmarks
    assert ("chinBottom" in {lm["Type"] for lm in answer["Landmarks"]}) == (landmarks == 30)
    assert ("FaceOccluded" in answer) == occluded
    assert ("AgeRange" in answer and "Emotions" in answer) == extra
    assert {"BoundingBox", "Confidence", "Pose", "Quality"} <= set(answer)


def test_the_detector_asks_for_all(creds):
    detail = face_detail(_full_face(), (1000, 800))
    with FakeRekognition(lambda _image: detect_faces_response([detail], ["ALL"]), latency=0.0) as fake:
        client = rekognition_client(Settings(region="us-east-1"), endpoint_url=fake.url)
        faces = RekognitionDetector(client).detect(Photo(encode(Image.new("RGB", (1000, 800)), "JPEG")))
    assert fake.attributes == [["ALL"]]
    assert faces[0].has_landmarks and faces[0].occluded == pytest.approx(0.973)


def test_a_default_shaped_answer_cannot_pass_silently(client, catalog, detector, upright_photo):
    """5 landmarks (what DEFAULT returns) used to give too_small on every face with status ok."""
    truth = detector.detect(Photo(upright_photo))
    default_answer = detect_faces_response([face_detail(truth[0], (900, 700))], ["DEFAULT", "FACE_OCCLUDED"])
    assert len(default_answer["FaceDetails"][0]["Landmarks"]) == 5
    settings = Settings(seed=1, detector="rekognition")
    # With the local model beside it (the registered detector): the face takes the local landmarks and is masked.
    with Stubber(client) as stub:
        stub.add_response("detect_faces", default_answer, PARAMS)
        hybrid = HybridDetector(RekognitionDetector(client), detector)
        result = process_photo("IMG_0001.jpg", upright_photo, Context(settings, hybrid, catalog.masks))
    assert (result.row.status, result.row.faces_masked) == ("ok", 1)
    assert result.faces[0].action == "replaced"
    # Alone, it fails loudly: no photo row says "ok" with its faces left alone.
    with Stubber(client) as stub:
        stub.add_response("detect_faces", default_answer, PARAMS)
        with pytest.raises(DetectorError, match="chinBottom"):
            HybridDetector(RekognitionDetector(client), None).detect(Photo(upright_photo))


def test_the_cloud_finds_every_face_the_local_detector_finds(client, detector):
    # A close face Rekognition sees, and a 32 px face in a 3200 px photo: 19 px in the 1920 px copy it is sent.
    from testing.helpers import scene_jpeg

    data = scene_jpeg([PersonSpec(420, asset=0), PersonSpec(48, asset=1)], size=(3200, 2000), seed=8)
    photo = Photo(data)
    local = detector.detect(photo)
    big = max(local, key=lambda f: f.box.w)
    assert len(local) == 2 and min(f.box.w for f in local) < 80
    answer = detect_faces_response([face_detail(big, photo.size, occluded=True)], ATTRIBUTES)
    with Stubber(client) as stub:
        stub.add_response("detect_faces", answer, PARAMS)
        faces = HybridDetector(RekognitionDetector(client), detector).detect(photo)
    assert len(faces) == len(local) == 2
    joined = max(faces, key=lambda f: f.box.w)
    assert joined.occluded == pytest.approx(0.973)  # Rekognition's FaceOccluded kept
    assert joined.landmarks == big.landmarks  # FaceMesh's landmarks kept
    small = min(faces, key=lambda f: f.box.w)
    assert small.occluded is None and small.has_landmarks


def test_zero_faces(client, catalog):
    data = encode(Image.new("RGB", (640, 480), (90, 140, 200)), "JPEG")
    with Stubber(client) as stub:
        stub.add_response("detect_faces", detect_faces_response([]), PARAMS)
        result = process_photo("sky.jpg", data, rekognition_ctx(client, catalog))
    assert (result.row.status, result.row.faces_found, result.faces) == ("no_faces", 0, [])
    assert result.copy_source  # written back byte for byte


def _grid_faces(n: int) -> list[dict]:
    faces = []
    for i in range(n):
        left, top = (i % 6) / 6 + 0.02, (i // 6) / 5 + 0.02
        box = Box(left * 1000, top * 1000, 100, 120)  # laid out on a 1000 x 1000 grid of ratios
        marks = {name: Point(box.x + 20 + k * 2, box.y + 30 + k * 2) for k, name in enumerate(LANDMARK_NAMES)}
        faces.append(face_detail(Face(box, 0.99, marks, Pose(5.0, -12.5, 3.0)), (1000, 1000), occluded=i % 2 == 0))
    return faces


def test_thirty_faces_with_thirty_landmarks_each(client, sent):
    size = (1600, 1200)
    photo = Photo(encode(Image.new("RGB", size, (128, 128, 128)), "JPEG"))
    with Stubber(client) as stub:
        stub.add_response("detect_faces", detect_faces_response(_grid_faces(30), ATTRIBUTES), PARAMS)
        faces = RekognitionDetector(client).detect(photo)
    assert len(faces) == 30
    assert all(len(f.landmarks) == 30 and f.has_landmarks for f in faces)
    first = faces[0]
    assert first.box.x == pytest.approx(0.02 * 1600) and first.box.w == pytest.approx(0.1 * 1600)
    assert first.landmarks["eyeLeft"].y == pytest.approx((0.02 * 1000 + 30) / 1000 * 1200)
    assert first.pose == Pose(roll=5.0, yaw=-12.5, pitch=3.0)
    assert [f.occluded for f in faces[:2]] == [pytest.approx(0.973), pytest.approx(0.027)]


def test_boxes_outside_the_frame_are_clamped_or_dropped(client):
    photo = Photo(encode(Image.new("RGB", (1000, 800), (128, 128, 128)), "JPEG"))
    detail = {"BoundingBox": {"Left": -0.1, "Top": 0.9, "Width": 0.3, "Height": 0.25}, "Confidence": 99.1}
    gone = {"BoundingBox": {"Left": 1.2, "Top": 0.1, "Width": 0.1, "Height": 0.1}, "Confidence": 99.0}
    with Stubber(client) as stub:
        stub.add_response("detect_faces", detect_faces_response([detail, gone]), PARAMS)
        faces = RekognitionDetector(client).detect(photo)
    assert len(faces) == 1
    b = faces[0].box
    assert (b.x, b.y, b.w, b.h) == pytest.approx((0.0, 720.0, 200.0, 80.0))
    assert not faces[0].has_landmarks  # no landmarks: the pipeline leaves such a face alone


def test_big_photo_is_sent_under_the_byte_limit_and_mapped_back(client, sent):
    noise = np.random.default_rng(0).integers(0, 256, (3000, 4500, 3), dtype=np.uint8)  # incompressible
    photo = Photo(encode(Image.fromarray(noise), "JPEG", quality=95))
    detail = {"BoundingBox": {"Left": 0.5, "Top": 0.25, "Width": 0.1, "Height": 0.2}, "Confidence": 99.5}
    with Stubber(client) as stub:
        stub.add_response("detect_faces", detect_faces_response([detail]), PARAMS)
        faces = RekognitionDetector(client).detect(photo)
    assert len(sent[0]) < MAX_BYTES
    assert max(jpeg_size(sent[0])) <= SEND_LONG_SIDE
    b = faces[0].box
    assert (b.x, b.y, b.w, b.h) == pytest.approx((2250, 750, 450, 600), abs=2.5)  # full-resolution pixels


def test_tiny_photo_is_padded_to_the_minimum_side(client, sent):
    photo = Photo(encode(Image.new("RGB", (60, 40), (128, 128, 128)), "PNG"))
    detail = {"BoundingBox": {"Left": 0.1, "Top": 0.1, "Width": 0.5, "Height": 0.5}, "Confidence": 99.5}
    with Stubber(client) as stub:
        stub.add_response("detect_faces", detect_faces_response([detail]), PARAMS)
        faces = RekognitionDetector(client).detect(photo)
    assert jpeg_size(sent[0]) == (80, 80)
    b = faces[0].box  # ratios of the padded 80 x 80 image, clamped to the real 60 x 40
    assert (b.x, b.y, b.w, b.h) == pytest.approx((8, 8, 40, 32))


@pytest.mark.parametrize("code", ["InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException"])
def test_the_photos_own_fault_becomes_its_row(client, catalog, upright_photo, code):
    with Stubber(client) as stub:
        stub.add_client_error("detect_faces", service_error_code=code, service_message="nope", http_status_code=400)
        result = process_photo("IMG_0001.jpg", upright_photo, rekognition_ctx(client, catalog))
    assert result.row.status == "error"
    assert code in result.row.reason and "Rekognition" in result.row.reason


def test_a_service_fault_is_not_a_photo_row(client, catalog, upright_photo):
    with Stubber(client) as stub:
        stub.add_client_error("detect_faces", service_error_code="AccessDeniedException", http_status_code=403)
        with pytest.raises(ServiceUnavailable, match="AccessDeniedException"):
            process_photo("IMG_0001.jpg", upright_photo, rekognition_ctx(client, catalog))


# -- over HTTP: botocore's own retries -------------------------------------------------------------


@pytest.fixture
def creds(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_REKOGNITION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")


def one_face(_image: bytes) -> dict:
    return detect_faces_response(
        [{"BoundingBox": {"Left": 0.4, "Top": 0.3, "Width": 0.2, "Height": 0.3}, "Confidence": 99.9}]
    )


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_throttling_is_retried_until_it_succeeds(creds, mode):
    photo = Photo(encode(Image.new("RGB", (500, 400), (128, 128, 128)), "JPEG"))
    settings = Settings(region="us-east-1", retry_mode=mode, max_attempts=5)
    with FakeRekognition(one_face, latency=0.01, throttle_first=2) as fake:
        faces = RekognitionDetector(rekognition_client(settings, endpoint_url=fake.url)).detect(photo)
    assert (fake.throttled, fake.served) == (2, 1)
    assert [round(f.box.x) for f in faces] == [200]


def test_throttling_past_the_last_attempt_stops_the_shard(creds):
    photo = Photo(encode(Image.new("RGB", (500, 400), (128, 128, 128)), "JPEG"))
    settings = Settings(region="us-east-1", retry_mode="standard", max_attempts=2)
    with (
        FakeRekognition(one_face, latency=0.01, tps=0) as fake,
        pytest.raises(ServiceUnavailable, match=r"ThrottlingException.*after 2 attempts"),
    ):
        RekognitionDetector(rekognition_client(settings, endpoint_url=fake.url)).detect(photo)
    assert fake.served == 0


def test_a_throttled_answer_widens_the_shared_interval(creds, tmp_path):
    with FakeRekognition(one_face, latency=0.01, throttle_first=1) as fake:
        client = rekognition_client(Settings(region="us-east-1", retry_mode="standard", max_attempts=3), fake.url)
        pacer = Pacer(10, tmp_path / "pace")
        pacer.attach(client)
        RekognitionDetector(client).detect(Photo(encode(Image.new("RGB", (300, 200)), "JPEG")))
    _slot, interval = map(float, (tmp_path / "pace").read_text().split())
    assert fake.throttled == 1
    assert interval == pytest.approx(
        0.1 * Pacer.WIDEN * Pacer.NARROW
    )  # widened by the throttle, narrowed by the answer


def test_requests_in_flight_are_bounded(creds):
    settings = Settings(region="us-east-1", rekognition_concurrency=2)
    photos = [Photo(encode(Image.new("RGB", (300, 200), (i * 30, 90, 90)), "JPEG")) for i in range(6)]
    with FakeRekognition(one_face, latency=0.2) as fake:
        detector = RekognitionDetector(rekognition_client(settings, endpoint_url=fake.url), concurrency=2)
        found: list[int] = []
        threads = [threading.Thread(target=lambda p=p: found.append(len(detector.detect(p)))) for p in photos]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert found == [1] * 6
    assert fake.max_in_flight == 2


def test_pacing_spaces_request_starts_across_clients(creds, tmp_path):
    # Two clients with their own Pacer objects sharing one schedule file: two worker processes.
    photos = [Photo(encode(Image.new("RGB", (300, 200), (i * 30, 90, 90)), "JPEG")) for i in range(6)]
    with FakeRekognition(one_face, latency=0.05, tps=4) as fake:
        detectors = []
        for _ in range(2):
            client = rekognition_client(Settings(region="us-east-1", retry_mode="standard", max_attempts=1), fake.url)
            Pacer(3.6, tmp_path / "pace").attach(client)  # a little under the ceiling, as docs/AWS.md says
            detectors.append(RekognitionDetector(client, concurrency=3))
        started = time.monotonic()
        threads = [threading.Thread(target=detectors[i % 2].detect, args=(p,)) for i, p in enumerate(photos)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    assert (fake.served, fake.throttled) == (6, 0)  # never over 4 per second, so never throttled
    assert elapsed >= 5 / 3.6 - 0.05  # six starts, 1/3.6 s apart
