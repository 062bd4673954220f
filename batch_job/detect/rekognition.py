"""Amazon Rekognition DetectFaces as a Detector, joined with the local detector: the same Face type out.

What is asked: ``Attributes=["ALL"]``. AWS documents that no Attributes, or
``["DEFAULT"]``, returns only 5 landmarks (eyes, nose, mouth corners), and that
``["DEFAULT", "FACE_OCCLUDED"]`` adds FaceOccluded and nothing else; the
jawline and chin points the fit needs come only with ALL. A face that still
comes back without them (a proxy, a stub, an API change) is never passed on
silently: it takes the local model's landmarks, or the photo fails loudly
(DetectorError), instead of every face turning into ``too_small``.

What is sent: an upright copy (EXIF orientation applied here, because
Rekognition only rotates JPEGs that still carry the tag and we re-encode),
at most ``SEND_LONG_SIDE`` px, JPEG, under the 5 MiB byte limit, each side at
least 80 px (small photos are padded at the right and bottom, so ratios of the
padded image map straight back to pixels).

Joined with the local detector (``HybridDetector``, the one registered as
"rekognition"): Rekognition's smallest face is ~40 px in the 1920 px image it
is sent, the local detector reads the photo at 2048 px and finds faces from
~20 px there. So both run; a face both found keeps Rekognition's box, pose and
FaceOccluded and the local FaceMesh landmarks (the fit's chin overshoot and
anchors were measured on FaceMesh, docs/QUALITY.md); a face only one of them
found is kept as that one gives it. The cloud run never finds fewer faces than
a local run of the same photo.

Errors: throttling and 5xx are retried by botocore (standard/adaptive mode,
``max_attempts``) and paced (``Pacer``); the photo's own faults (bad format,
too large, invalid) become its manifest row; anything else, or retries running
out, raises ServiceUnavailable (the worker keeps what the shard finished).
"""

from __future__ import annotations

import fcntl
import io
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from batch_job.detect.base import Detector, ImageSource, register
from batch_job.detect.face import LANDMARK_NAMES, REQUIRED_LANDMARKS, Box, Face, Point, Pose
from batch_job.errors import DetectorError, PhotoError

MAX_BYTES = 5 * 1024 * 1024  # DetectFaces' limit for image bytes
MIN_SIDE = 80  # DetectFaces' minimum width and height
# Rekognition's smallest face is ~40 px in a 1920x1080 image and grows with the
# image, so more pixels than this buy no smaller faces, only upload time.
SEND_LONG_SIDE = 1920
JPEG_QUALITIES = (90, 80, 70)
ATTRIBUTES = ["ALL"]
# A face matched across the two detectors: boxes overlapping at least this much.
MATCH_IOU = 0.3
THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException"}

# The request's fault, not the service's: the photo gets a row and the shard goes on.
PHOTO_FAULTS = {
    "InvalidImageFormatException": "Rekognition cannot read this image",
    "ImageTooLargeException": "image too large for Rekognition",
    "InvalidParameterException": "Rekognition rejected the request for this image",
    "InvalidS3ObjectException": "Rekognition cannot read this image",
}


def upright_jpeg(source: ImageSource, long_side: int = SEND_LONG_SIDE) -> tuple[bytes, tuple[int, int], float]:
    """(JPEG bytes, size of the encoded image, scale from full-resolution pixels to it)."""
    image, scale = source.at_most(long_side)
    if image.width < MIN_SIDE or image.height < MIN_SIDE:
        padded = Image.new("RGB", (max(image.width, MIN_SIDE), max(image.height, MIN_SIDE)), (0, 0, 0))
        padded.paste(image, (0, 0))
        image = padded
    while True:
        for quality in JPEG_QUALITIES:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality)
            if buffer.tell() < MAX_BYTES:
                return buffer.getvalue(), image.size, scale
        # Still too big (pure noise at full size does this): shrink and try again.
        k = 0.75
        image = image.resize((max(MIN_SIDE, round(image.width * k)), max(MIN_SIDE, round(image.height * k))))
        scale *= k


def faces_from_response(
    response: dict, sent_size: tuple[int, int], scale: float, full_size: tuple[int, int]
) -> list[Face]:
    """FaceDetails (ratios of the sent image) as Faces in full-resolution upright pixels."""
    sw, sh = sent_size
    fx, fy = sw / scale, sh / scale  # ratio -> full-resolution pixels
    faces = []
    for detail in response.get("FaceDetails", []):
        bb = detail.get("BoundingBox", {})
        box = Box(
            bb.get("Left", 0.0) * fx, bb.get("Top", 0.0) * fy, bb.get("Width", 0.0) * fx, bb.get("Height", 0.0) * fy
        )
        box = box.clamp(*full_size)
        if box.w <= 0 or box.h <= 0:
            continue  # entirely outside the photo (or the padding)
        landmarks = {
            lm["Type"]: Point(float(lm["X"]) * fx, float(lm["Y"]) * fy)
            for lm in detail.get("Landmarks", [])
            if lm.get("Type") in LANDMARK_NAMES and "X" in lm and "Y" in lm
        }
        pose = detail.get("Pose", {})
        occluded = None
        if "FaceOccluded" in detail:
            value = detail["FaceOccluded"]
            confidence = float(value.get("Confidence", 0.0)) / 100.0
            occluded = confidence if value.get("Value") else 1.0 - confidence
        faces.append(
            Face(
                box=box,
                score=float(detail.get("Confidence", 0.0)) / 100.0,
                landmarks=landmarks,
                pose=Pose(
                    roll=float(pose.get("Roll", 0.0)),
                    yaw=float(pose.get("Yaw", 0.0)),
                    pitch=float(pose.get("Pitch", 0.0)),
                ),
                occluded=occluded,
            )
        )
    return faces


class Pacer:
    """Spaces the starts of DetectFaces requests across every process on this machine.

    botocore's retry modes only react once a request was throttled, and adaptive
    mode learns per client object, i.e. per worker process: against a quota,
    independent processes retrying after random backoffs keep it only about three
    quarters busy (bench/RESULTS.md, "Cloud throughput"). Here the processes share
    one schedule in a lock file (they share nothing else): request starts are
    ``interval`` apart, at most ``tps`` a second. The interval widens by a quarter
    on a throttled answer (the quota is shared with others, or ``tps`` was set
    too high) and narrows back by 5% per answered request. Retries are paced too:
    this runs on every send.
    """

    WIDEN, NARROW, SLOWEST = 1.25, 0.95, 10.0  # SLOWEST: the widest interval, in units of 1 / tps

    def __init__(self, tps: float, path: Path | None = None) -> None:
        self.base = 1.0 / tps
        self.path = path or Path(tempfile.gettempdir()) / "maskalbum-rekognition.pace"

    def _update(self, change) -> float:
        """Apply ``change(next_slot, interval) -> (next_slot, interval)`` under the lock; the old next slot."""
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                fh.seek(0)
                try:
                    slot, interval = (float(v) for v in fh.read().split())
                except ValueError:  # new (or foreign) file
                    slot, interval = 0.0, self.base
                new_slot, new_interval = change(slot, min(max(interval, self.base), self.base * self.SLOWEST))
                fh.seek(0)
                fh.truncate()
                fh.write(f"{new_slot!r} {new_interval!r}")
                fh.flush()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return slot

    def wait(self) -> None:
        now = time.time()
        booked = self._update(lambda slot, interval: (max(now, slot) + interval, interval))
        if booked > now:
            time.sleep(booked - now)

    def answered(self, throttled: bool) -> None:
        factor = self.WIDEN if throttled else self.NARROW
        self._update(lambda slot, interval: (slot, interval * factor))

    def attach(self, client) -> None:
        events = client.meta.events
        events.register("before-send.rekognition.DetectFaces", lambda **_: self.wait())
        events.register("needs-retry.rekognition.DetectFaces", self._on_answer)

    def _on_answer(self, response=None, **_) -> None:
        if response is not None:  # None: no answer at all (a connection error)
            code = response[1].get("Error", {}).get("Code", "")
            self.answered(throttled=code in THROTTLED)


class RekognitionDetector:
    name = "rekognition"

    def __init__(self, client, concurrency: int = 4, threshold: float = 0.0, tps: float = 0.0) -> None:
        self.client = client
        self.threshold = threshold
        # Bounds this process's requests in flight when callers use threads;
        # across processes the worker count bounds them (see __main__).
        self._gate = threading.BoundedSemaphore(concurrency)
        if tps:
            Pacer(tps).attach(client)

    def detect(self, source: ImageSource) -> list[Face]:
        payload, sent_size, scale = upright_jpeg(source)
        with self._gate:
            response = self._call(payload)
        faces = faces_from_response(response, sent_size, scale, source.size)
        return [f for f in faces if f.score >= self.threshold]

    def _call(self, payload: bytes) -> dict:
        # Imported here, as the registry asks: listing detectors must not load boto3.
        import botocore.exceptions

        from batch_job.aws import ServiceUnavailable, error_code

        try:
            return self.client.detect_faces(Image={"Bytes": payload}, Attributes=ATTRIBUTES)
        except botocore.exceptions.ClientError as exc:
            code = error_code(exc)
            message = exc.response.get("Error", {}).get("Message", "")
            if code in PHOTO_FAULTS:
                raise PhotoError(f"{PHOTO_FAULTS[code]} ({code}: {message})") from exc
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            raise ServiceUnavailable(
                f"Rekognition DetectFaces failed: {code}: {message} (after {attempts + 1} attempts)"
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ServiceUnavailable(f"Rekognition DetectFaces unreachable: {exc}") from exc


class HybridDetector:
    """Rekognition's faces joined with the local detector's (see the module docstring)."""

    name = "rekognition"

    def __init__(self, cloud: RekognitionDetector, local: Detector | None) -> None:
        self.cloud = cloud
        self.local = local

    def detect(self, source: ImageSource) -> list[Face]:
        remote = self.cloud.detect(source)
        near = self.local.detect(source) if self.local is not None else []
        return join_faces(remote, near)


def join_faces(remote: list[Face], local: list[Face]) -> list[Face]:
    """One face per person: matched pairs merged, the rest kept as their detector gave them.

    A Rekognition face without the landmarks the fit needs takes its local
    twin's; with no twin it is a DetectorError (the request shape is wrong).
    """
    pairs = sorted(((r.box.iou(f.box), i, j) for i, r in enumerate(remote) for j, f in enumerate(local)), reverse=True)
    twin: dict[int, int] = {}
    taken: set[int] = set()
    for iou, i, j in pairs:
        if iou < MATCH_IOU:
            break
        if i not in twin and j not in taken:
            twin[i] = j
            taken.add(j)
    joined = []
    for i, face in enumerate(remote):
        if i in twin:
            near = local[twin[i]]
            joined.append(
                Face(box=face.box, score=max(face.score, near.score), landmarks=near.landmarks or face.landmarks,
                     pose=face.pose, occluded=face.occluded)
            )  # fmt: skip
        elif face.has_landmarks:
            joined.append(face)
        else:
            missing = [n for n in REQUIRED_LANDMARKS if n not in face.landmarks]
            raise DetectorError(
                f"DetectFaces answered a face without the landmarks {', '.join(missing)}: "
                f"it returns them only for Attributes={ATTRIBUTES} (was the request changed or stubbed?)"
            )
    joined.extend(f for j, f in enumerate(local) if j not in taken)
    return joined


@register("rekognition")
def _create(settings) -> HybridDetector:
    from batch_job.aws import rekognition_client
    from batch_job.detect.base import create_detector

    cloud = RekognitionDetector(
        rekognition_client(settings),
        settings.rekognition_concurrency,
        threshold=settings.detect_threshold,
        tps=settings.rekognition_tps,
    )
    return HybridDetector(cloud, create_detector("local", settings))
