"""Real servers for the AWS edge: moto's server (S3, Batch, IAM) and a DetectFaces fake over HTTP.

``FakeRekognition`` speaks Rekognition's JSON 1.1 protocol on 127.0.0.1, so a
real boto3 client (with its real retry modes) talks to it through
``endpoint_url`` or AWS_ENDPOINT_URL_REKOGNITION. The benchmark uses it too.
"""

from __future__ import annotations

import base64
import collections
import io
import json
import logging
import os
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

from PIL import Image

from batch_job.detect.face import LANDMARK_NAMES, Face

REGION = "us-east-1"


# -- moto -----------------------------------------------------------------------------------------


@contextmanager
def moto_server():
    """moto's real HTTP server on 127.0.0.1 (a free port), Batch without Docker; yields its URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's state is per process, not per server: start every server from nothing.
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=10).read()
    request = urllib.request.Request(
        url + "/moto-api/config", data=json.dumps({"batch": {"use_docker": False}}).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=10).read()
    try:
        yield url
    finally:
        server.stop()


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    """Dummy credentials and the endpoint; no developer profile or config leaks in."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "MASKALBUM_CONFIG": "/nonexistent/maskalbum-config.toml",
        # submit records albums here; never in the developer's own ~/.local/state
        "XDG_STATE_HOME": tempfile.mkdtemp(prefix="maskalbum-state-"),
    }
    env.update(extra)
    return env


def process_env(env: dict[str, str]) -> dict[str, str]:
    """The environment for a child process: this one's PATH etc., no AWS_*/MASKALBUM_* of the developer."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MASKALBUM_"))}
    keep.update(env)
    return keep


@contextmanager
def moto_account(bucket: str):
    """A moto server with this process's AWS_* / MASKALBUM_* environment replaced to point at it,
    a bucket, a Batch queue and a job role: the account the AWS tests run in."""
    import boto3
    import pytest

    with moto_server() as endpoint, pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("AWS_", "MASKALBUM_"))]:
            mp.delenv(key)
        env = aws_env(endpoint)
        for key, value in env.items():
            mp.setenv(key, value)
        s3, batch, iam = boto3.client("s3"), boto3.client("batch"), boto3.client("iam")
        s3.create_bucket(Bucket=bucket)
        queue = create_queue(batch, iam)
        role = iam.create_role(RoleName="maskalbum-job", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        yield SimpleNamespace(endpoint=endpoint, env=env, s3=s3, batch=batch, queue=queue, role=role)


def create_queue(batch, iam, name: str = "maskalbum-queue") -> str:
    role = iam.create_role(RoleName=f"{name}-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName=f"{name}-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    batch.create_job_queue(
        jobQueueName=name, state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce["computeEnvironmentArn"]}],
    )  # fmt: skip
    return name


def batch_container(batch, job_id: str, index: int | None = None, attempt: int = 1) -> tuple[list[str], dict[str, str]]:
    """(command, environment) that Batch would give the container of ``job_id`` (child ``index``).

    moto runs no containers, so the tests start the worker themselves, with what
    describe_jobs says the job was given: the job definition's environment with
    the submit-time overrides on top, and the AWS_BATCH_* variables Batch adds.
    """
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    container = job["container"]
    env: dict[str, str] = {}
    for item in container.get("environment", []):
        # moto lists overrides first and repeats AWS_BATCH_JOB_ID on every describe: keep first, own AWS_BATCH_*.
        if not item["name"].startswith("AWS_BATCH") and item["name"] not in env:
            env[item["name"]] = item["value"]
    env["AWS_BATCH_JOB_ID"] = job_id if index is None else f"{job_id}:{index}"
    env["AWS_BATCH_JOB_ATTEMPT"] = str(attempt)
    if index is not None:
        env["AWS_BATCH_JOB_ARRAY_INDEX"] = str(index)
    return list(container.get("command", [])), env


# -- Rekognition ------------------------------------------------------------------------------------


# What DetectFaces returns for each Attributes value, as AWS documents it:
# - DetectFaces API reference, request parameter Attributes
#   (https://docs.aws.amazon.com/rekognition/latest/APIReference/API_DetectFaces.html): "If you don't specify
#   a value for Attributes or if you specify ["DEFAULT"], the API returns the following subset of facial
#   attributes: BoundingBox, Confidence, Pose, Quality, and Landmarks"; specific attributes are requested
#   "in addition to the default list" with ["DEFAULT", "FACE_OCCLUDED"] or just ["FACE_OCCLUDED"]; ["ALL"]
#   returns all facial attributes (and takes longer); ["ALL", "DEFAULT"] is ALL.
# - Which landmarks: the default set is the 5 of the original API (eyeLeft, eyeRight, nose, mouthLeft,
#   mouthRight; FaceDetail/Landmark in the API reference, and the Developer Guide's "Detecting faces in an
#   image" sample answer with DEFAULT). The 2018 release note (aws-sdk changelog 2.361.0, "Rekognition"):
#   "When the Attributes input parameter is set to ALL, the face location landmarks includes 5 new
#   landmarks: upperJawlineLeft, midJawlineLeft, chinBottom, midJawlineRight, upperJawlineRight" — the
#   30 landmark types come with ALL only.
# - FaceOccluded (2023): returned with ALL or when FACE_OCCLUDED is asked for.
DEFAULT_LANDMARKS = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")
DEFAULT_KEYS = ("BoundingBox", "Confidence", "Pose", "Quality", "Landmarks")
# Attribute name in the request -> key of FaceDetail it adds.
ATTRIBUTE_KEYS = {
    "AGE_RANGE": "AgeRange", "BEARD": "Beard", "EMOTIONS": "Emotions", "EYE_DIRECTION": "EyeDirection",
    "EYEGLASSES": "Eyeglasses", "EYES_OPEN": "EyesOpen", "GENDER": "Gender", "MOUTH_OPEN": "MouthOpen",
    "MUSTACHE": "Mustache", "FACE_OCCLUDED": "FaceOccluded", "SMILE": "Smile", "SUNGLASSES": "Sunglasses",
}  # fmt: skip


def face_detail(face: Face, size: tuple[int, int], occluded: bool = True, confidence: float = 99.8) -> dict:
    """Everything DetectFaces can say about ``face`` in an image of ``size`` (the ALL answer).

    Shape it for a request with ``shaped_details`` (``detect_faces_response`` does)."""
    w, h = size
    b = face.box
    return {
        "BoundingBox": {"Width": b.w / w, "Height": b.h / h, "Left": b.x / w, "Top": b.y / h},
        "AgeRange": {"Low": 25, "High": 35},
        "Smile": {"Value": False, "Confidence": 93.1},
        "Eyeglasses": {"Value": False, "Confidence": 97.0},
        "Sunglasses": {"Value": False, "Confidence": 98.8},
        "Gender": {"Value": "Female", "Confidence": 91.2},
        "Beard": {"Value": False, "Confidence": 88.5},
        "Mustache": {"Value": False, "Confidence": 95.4},
        "EyesOpen": {"Value": True, "Confidence": 96.6},
        "MouthOpen": {"Value": False, "Confidence": 90.3},
        "Emotions": [{"Type": "CALM", "Confidence": 87.0}, {"Type": "HAPPY", "Confidence": 6.1}],
        "Landmarks": [
            {"Type": name, "X": face.landmarks[name].x / w, "Y": face.landmarks[name].y / h}
            for name in LANDMARK_NAMES
            if name in face.landmarks
        ],
        "Pose": {"Roll": face.pose.roll, "Yaw": face.pose.yaw, "Pitch": face.pose.pitch},
        "Quality": {"Brightness": 71.5, "Sharpness": 89.9},
        "Confidence": confidence,
        "FaceOccluded": {"Value": occluded, "Confidence": 97.3},
        "EyeDirection": {"Yaw": 2.1, "Pitch": -4.0, "Confidence": 99.0},
    }


def shaped_details(details: list[dict], attributes: list[str] | None) -> list[dict]:
    """``details`` (ALL answers) cut down to what DetectFaces returns for ``attributes`` (see above)."""
    asked = set(attributes or ["DEFAULT"])
    if "ALL" in asked:
        return [dict(d) for d in details]
    keep = set(DEFAULT_KEYS) | {ATTRIBUTE_KEYS[a] for a in asked if a in ATTRIBUTE_KEYS}
    out = []
    for detail in details:
        one = {k: v for k, v in detail.items() if k in keep}
        if "Landmarks" in one:
            one["Landmarks"] = [lm for lm in one["Landmarks"] if lm["Type"] in DEFAULT_LANDMARKS]
        out.append(one)
    return out


def detect_faces_response(details: list[dict], attributes: list[str] | None = None) -> dict:
    """The DetectFaces answer to a request with ``attributes`` (None: none given, the DEFAULT set)."""
    return {"FaceDetails": shaped_details(details, attributes)}


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


class FakeRekognition:
    """DetectFaces on 127.0.0.1: answers after ``latency`` seconds; over ``tps`` requests started in the
    last second (or for the first ``throttle_first`` requests) it answers ThrottlingException at once,
    as the service does. ``respond(image_bytes)`` gives the ALL answer (``face_detail``s) or raises
    FakeError; the fake cuts it to what the request's Attributes get from AWS (``shaped_details``)."""

    def __init__(
        self,
        respond: Callable[[bytes], dict],
        latency: float = 0.15,
        tps: float | None = None,
        throttle_first: int = 0,
    ) -> None:
        self.respond = respond
        self.latency = latency
        self.tps = tps
        self.throttle_first = throttle_first
        self.lock = threading.Lock()
        self.accepted_times: collections.deque[float] = collections.deque()
        self.requests = 0
        self.throttled = 0
        self.served = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.sizes: list[tuple[int, int]] = []
        self.attributes: list[list[str] | None] = []
        self.first_served = self.last_served = 0.0  # time.monotonic() of the first and last answer
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeRekognition:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                target = self.headers.get("X-Amz-Target", "")
                if target != "RekognitionService.DetectFaces":
                    return self._send(400, {"__type": "UnknownOperationException", "message": target})
                status, payload = fake._handle(json.loads(body))
                self._send(status, payload)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "fake-request")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _admit(self) -> bool:
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            if self.requests <= self.throttle_first:
                self.throttled += 1
                return False
            if self.tps is not None:
                while self.accepted_times and now - self.accepted_times[0] >= 1.0:
                    self.accepted_times.popleft()
                if len(self.accepted_times) >= self.tps:
                    self.throttled += 1
                    return False
                self.accepted_times.append(now)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return True

    def _handle(self, request: dict) -> tuple[int, dict]:
        if not self._admit():
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        try:
            image = base64.b64decode(request["Image"]["Bytes"])
            size = jpeg_size(image)
            time.sleep(self.latency)
            try:
                response = self.respond(image)
                response = {
                    **response,
                    "FaceDetails": shaped_details(response["FaceDetails"], request.get("Attributes")),
                }
                self.attributes.append(request.get("Attributes"))
            except FakeError as exc:
                return exc.status, {"__type": exc.code, "message": str(exc)}
            with self.lock:
                self.served += 1
                self.sizes.append(size)
                self.last_served = time.monotonic()
                self.first_served = self.first_served or self.last_served
            return 200, response
        finally:
            with self.lock:
                self.in_flight -= 1


class FakeError(Exception):
    def __init__(self, code: str, message: str = "", status: int = 400) -> None:
        super().__init__(message or code)
        self.code = code
        self.status = status


# -- albums ---------------------------------------------------------------------------------------


def write_album(root: Path, files: dict[str, bytes]) -> Path:
    for key, data in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
