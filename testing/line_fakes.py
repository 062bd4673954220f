"""A local fake of the LINE Messaging API, and a storage that presigns like S3 — for the LINE tests.

The fake records every request (path, headers, JSON body) and answers as LINE
does, including its checks of the things we could get wrong: the Bearer token,
1-5 messages, text length, ImageMessage URLs (HTTPS, at most 2,000 characters),
and a repeated X-Line-Retry-Key (409 once a push with that key was accepted).
Responses can be programmed per path: ``fake.program("/v2/bot/message/push", Reply(500), Reply(200))``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import io
import json
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import numpy as np
from botocore.config import Config
from PIL import Image

from batch_job.storage import MemoryStorage

PUSH = "/v2/bot/message/push"
REPLY = "/v2/bot/message/reply"


@dataclass
class Reply:
    status: int = 200
    body: dict | None = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (after acting on the request)
    accept: bool = False  # with a non-200 status: still deliver (the answer is what gets lost)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class FakeLine:
    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.delivered: list[dict] = []  # push and reply bodies LINE accepted
        self.content: dict[str, bytes] = {}
        self._script: dict[str, deque[Reply]] = defaultdict(deque)
        self._accepted_keys: set[str] = set()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def program(self, path: str, *replies: Reply) -> None:
        self._script[path].extend(replies)

    def to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 20.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.to(path)) >= count:
                return self.to(path)
            time.sleep(0.02)
        raise AssertionError(f"LINE got {len(self.to(path))} request(s) to {path}, expected {count}")

    # -- LINE's behaviour ----------------------------------------------------------------------
    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[Reply, bytes, str]:
        with self._lock:
            self.requests.append(Recorded(method, path, headers, body, time.monotonic()))
            scripted = self._script[path].popleft() if self._script[path] else None
        if headers.get("authorization") != f"Bearer {self.token}":
            return Reply(401), json.dumps({"message": "Authentication failed"}).encode(), "application/json"
        if method == "GET" and path.startswith("/v2/bot/message/") and path.endswith("/content"):
            message_id = path.split("/")[4]
            if scripted and scripted.status != 200:
                return scripted, b"{}", "application/json"
            if message_id not in self.content:
                return Reply(404), json.dumps({"message": "Not found"}).encode(), "application/json"
            return Reply(200), self.content[message_id], "image/jpeg"
        if method != "POST" or path not in (PUSH, REPLY):
            return Reply(404), b'{"message": "Not found"}', "application/json"
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            return Reply(400), b'{"message": "The request body has 1 error(s)"}', "application/json"
        problems = _check_messages(payload)
        if problems:
            return (
                Reply(400),
                json.dumps({"message": "The request body has errors", "details": problems}).encode(),
                "application/json",
            )
        key = headers.get("x-line-retry-key")
        with self._lock:
            if path == PUSH and key and key in self._accepted_keys:
                return (
                    Reply(409, headers={"x-line-accepted-request-id": "req-1"}),
                    b'{"message": "The retry key is already accepted"}',
                    "application/json",
                )
            reply = scripted or Reply(200)
            if reply.status == 200 or reply.accept:
                self.delivered.append({"path": path, **payload})
                if path == PUSH and key:
                    self._accepted_keys.add(key)
        answer = (
            reply.body
            if reply.body is not None
            else ({"sentMessages": [{"id": "1", "quoteToken": "q"}]} if reply.status == 200 else {"message": "error"})
        )
        return reply, json.dumps(answer).encode(), "application/json"

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply, data, kind = fake._answer(self.command, self.path, headers, body)
                if reply.delay:
                    time.sleep(reply.delay)
                with contextlib.suppress(OSError):  # the client may have given up (timeout tests)
                    self.send_response(reply.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:
                pass

        return Handler


def _check_messages(payload: dict) -> list[dict]:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return [{"property": "messages", "message": "size must be between 1 and 5"}]
    problems = []
    for i, m in enumerate(messages):
        if m.get("type") == "text" and not 1 <= len(m.get("text", "")) <= 5000:
            problems.append({"property": f"messages[{i}].text", "message": "length must be between 1 and 5000"})
        if m.get("type") == "image":
            for name in ("originalContentUrl", "previewImageUrl"):
                url = m.get(name, "")
                if not url.startswith("https://") or len(url) > 2000:
                    problems.append({"property": f"messages[{i}].{name}", "message": "invalid uri"})
    return problems


@contextlib.contextmanager
def running(token: str) -> Iterator[FakeLine]:
    fake = FakeLine(token).start()
    try:
        yield fake
    finally:
        fake.stop()


def offline_aws(monkeypatch, folder) -> None:
    """Static IAM-user keys, no shared config, no metadata service: presigning works offline and predictably."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "LINE_CHANNEL_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def image_event(message_id: str, user: str = "U" + "1" * 32, reply_token: str | None = None) -> dict:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1732800000000,
        "source": {"type": "user", "userId": user},
        "webhookEventId": "01J" + message_id.rjust(23, "0"),
        "deliveryContext": {"isRedelivery": False},
        "replyToken": reply_token or f"reply-{message_id}",
        "message": {"id": message_id, "type": "image", "quoteToken": "q", "contentProvider": {"type": "line"}},
    }


def text_event(text: str, user: str = "U" + "1" * 32, reply_token: str = "reply-text") -> dict:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1732800000000,
        "source": {"type": "user", "userId": user},
        "webhookEventId": "01JTEXT",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": reply_token,
        "message": {"id": "9000", "type": "text", "quoteToken": "q", "text": text},
    }


def webhook_body(*events: dict) -> bytes:
    return json.dumps({"destination": "U" + "f" * 32, "events": list(events)}).encode()


class PresigningStorage(MemoryStorage):
    """Objects in memory, links presigned by a real botocore S3 client (SigV4, no network needed).

    The URL is exactly what S3Storage would hand out for the same credentials,
    so its length with a session token is the real one.
    """

    def __init__(self, bucket: str = "maskalbum-test", prefix: str = "albums/a1/") -> None:
        super().__init__()
        self.bucket, self.prefix = bucket, prefix
        self.client = _s3_client(*(os.environ.get(n) for n in _CREDENTIAL_ENV))
        self.presigned: list[tuple[str, int]] = []

    def presigned_url(self, key: str, expires_seconds: int) -> str | None:
        self.presigned.append((key, expires_seconds))
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.prefix + key}, ExpiresIn=expires_seconds
        )


# -- photos ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def masked_jpeg() -> bytes:
    """A masked synthetic person beside an unmasked one (the pipeline replaces one mask)."""
    from testing.synth import PersonSpec, make_scene

    return make_scene([PersonSpec(180), PersonSpec(160, masked=False)], size=(800, 600)).jpeg()


@functools.lru_cache(maxsize=1)
def plain_jpeg() -> bytes:
    """A gradient: a valid photo with no face in it."""
    x = np.linspace(0, 255, 640)[None, :].repeat(480, 0)
    y = np.linspace(0, 255, 480)[:, None].repeat(640, 1)
    image = Image.fromarray(np.stack([x, y, 255 - x], axis=2).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def jpeg_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION")


@functools.lru_cache(maxsize=8)
def _s3_client(*credential_env: str | None):
    """A client per credential environment (a new session reads the credentials; building one costs 0.3 s)."""
    return boto3.Session().client(
        "s3", region_name="us-east-1", endpoint_url="https://s3.us-east-1.amazonaws.com",
        config=Config(signature_version="s3v4"),
    )  # fmt: skip
