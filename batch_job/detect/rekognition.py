"""Amazon Rekognition DetectFaces as a Detector: upright JPEG bytes in, the same Face type out.

What is sent: an upright copy (EXIF orientation applied here, because
Rekognition only rotates JPEGs that still carry the tag and we re-encode),
at most ``SEND_LONG_SIDE`` px, JPEG, under the 5 MiB byte limit, each side at
least 80 px (small photos are padded at the right and bottom, so ratios of the
padded image map straight back to pixels).

What comes back: boxes and 30 landmarks as ratios of the sent image, mapped to
pixels of the full upright photo; Pose as is (Face uses Rekognition's signs);
FaceOccluded as ``Face.occluded``, which the wearing check averages with its
own lower-face test, so hands and phones over a mouth do not count as masks.

Errors: throttling and 5xx are retried by botocore (standard/adaptive mode,
``max_attempts``); the photo's own faults (bad format, too large, invalid)
become its manifest row; anything else, or retries running out, raises
ServiceUnavailable so the Batch attempt fails and is retried.
"""

from __future__ import annotations

import fcntl
import io
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from batch_job.detect.base import ImageSource, register
from batch_job.detect.face import LANDMARK_NAMES, Box, Face, Point, Pose
from batch_job.errors import PhotoError

MAX_BYTES = 5 * 1024 * 1024  # DetectFaces' limit for image bytes
MIN_SIDE = 80  # DetectFaces' minimum width and height
# Rekognition's smallest face is ~40 px in a 1920x1080 image and grows with the
# image, so more pixels than this buy no smaller faces, only upload time.
SEND_LONG_SIDE = 1920
JPEG_QUALITIES = (90, 80, 70)
ATTRIBUTES = ["DEFAULT", "FACE_OCCLUDED"]
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
        box = Box(bb.get("Left", 0.0) * fx, bb.get("Top", 0.0) * fy, bb.get("Width", 0.0) * fx, bb.get("Height", 0.0) * fy)
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
                pose=Pose(roll=float(pose.get("Roll", 0.0)), yaw=float(pose.get("Yaw", 0.0)), pitch=float(pose.get("Pitch", 0.0))),
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


@register("rekognition")
def _create(settings) -> RekognitionDetector:
    from batch_job.aws import rekognition_client

    return RekognitionDetector(
        rekognition_client(settings),
        settings.rekognition_concurrency,
        threshold=settings.detect_threshold,
        tps=settings.rekognition_tps,
    )
